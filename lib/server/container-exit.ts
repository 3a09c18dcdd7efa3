import type { Logger } from '../log';
import type { ContainerRecord } from '../state/records';
import type { ServerDeps } from './deps';

/** Nanoseconds since the epoch of a Date, as records store it. */
function dateNs(d: Date): string {
  return (BigInt(d.getTime()) * 1_000_000n).toString();
}

/**
 * Moves a created/running container to EXITED when conmon has written its exit file: exit
 * code, finish time (the file's mtime) and the CRI reason (`Completed` for 0, else `Error`).
 * Called by the exit watcher, after stops, and when the daemon starts.
 */
export async function refreshContainerExit(deps: ServerDeps, id: string, log: Logger): Promise<ContainerRecord | undefined> {
  const record = deps.containers.find(id);
  if (!record || record.state === 'exited') return record;
  const runtime = deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
  const exit = await runtime.readExitFile(id);
  if (!exit) return record;
  const next = await deps.containers.update(id, (r) => ({
    ...r,
    state: 'exited',
    exitCode: exit.exitCode,
    finishedAtNs: dateNs(exit.finishedAt),
    // A container that never started still gets a start time so the kubelet sees a sane interval.
    startedAtNs: r.startedAtNs === '0' ? dateNs(exit.finishedAt) : r.startedAtNs,
    reason: r.reason || (exit.exitCode === 0 ? 'Completed' : 'Error'),
    pid: 0,
  }));
  log.info('container exited', { containerId: id, podSandboxId: record.podSandboxId, exitCode: exit.exitCode });
  return next;
}
