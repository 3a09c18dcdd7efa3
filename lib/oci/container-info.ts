import { NotFoundError } from '../errors';
import { conmonPidFile } from './conmon-args';
import { pidAlive, processStartTime, readPidFile, sameProcessAlive } from './pids';
import type { Runc } from './runc';
import type { SpecProcess } from './spec-input';

/** Facts the runtime driver keeps per container (cached; rebuilt from runc state after a restart). */
export interface ContainerInfo {
  bundleDir: string;
  /** Init PID while it may still run; undefined once runc reports the container stopped. */
  pid?: number;
  /** Start time of `pid`, so a reused PID is not mistaken for the container. */
  pidStartTime?: string;
  conmonPid?: number;
  conmonStartTime?: string;
  process?: SpecProcess;
}

/** Loads a container's facts from `runc state` and conmon's pid file. */
export async function loadContainerInfo(runc: Runc, containerId: string): Promise<ContainerInfo> {
  const state = await runc.state(containerId);
  if (!state) throw new NotFoundError(`container ${containerId} is not known to runc`);
  // runc checks the init PID's start time itself, so its pid is trustworthy right now; a stopped
  // container's old PID may already belong to someone else.
  const pid = state.status === 'stopped' || state.pid <= 0 ? undefined : state.pid;
  const conmonPid = await readPidFile(conmonPidFile(state.bundle));
  return {
    bundleDir: state.bundle,
    pid,
    pidStartTime: pid === undefined ? undefined : await processStartTime(pid),
    conmonPid,
    conmonStartTime: conmonPid === undefined ? undefined : await processStartTime(conmonPid),
  };
}

/** True once the container's process is gone and conmon has either recorded it or is gone too. */
export async function processesGone(info: ContainerInfo): Promise<boolean> {
  if (info.pid !== undefined && (await sameProcessAlive(info.pid, info.pidStartTime))) return false;
  // The process is gone; wait for conmon to write the exit file unless conmon itself is gone.
  return info.conmonPid === undefined || !(await sameProcessAlive(info.conmonPid, info.conmonStartTime));
}

/** SIGKILLs the conmon of a bundle whose create failed (its pid file names it), if it still runs. */
export async function killConmon(bundleDir: string): Promise<void> {
  const conmonPid = await readPidFile(conmonPidFile(bundleDir)).catch(() => undefined);
  if (conmonPid === undefined || !(await pidAlive(conmonPid))) return;
  try {
    process.kill(conmonPid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
