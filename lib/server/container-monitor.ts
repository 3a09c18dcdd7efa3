import { asError } from '../errors';
import type { Logger } from '../log';
import type { ContainerRecord } from '../state/records';
import { markContainerLost, MONITOR_LOST_MESSAGE, refreshContainerExit } from './container-exit';
import type { ServerDeps } from './deps';
import { InfraWatch } from './sandbox-infra-watch';

/**
 * Notices a dead conmon while the daemon runs (CRI-O notices only at its next start). conmon
 * records a container's exit; when it dies first, nothing would ever report the container
 * exited and the kubelet would never restart it.
 *
 * How: a timer checks the conmon PID of every created or running container once a second,
 * together with the process start time taken when conmon was spawned, so a PID the kernel
 * reused is not mistaken for it. Node has no pidfd, conmon is not our child (it double-forks
 * and setsids to outlive the daemon), and inotify says nothing about /proc; a read of
 * /proc/<pid>/stat per container per second costs microseconds and nothing at all without
 * containers. The exit-file watcher stays the fast path for normal exits; this only catches
 * monitors that died without writing one.
 *
 * A container whose conmon died is reported EXITED with CRI-O's code for an unknown exit (255),
 * reason Error, and its event. If its process still runs, it is killed first: nobody would
 * collect its output or exit code, and the kubelet's replacement must not run beside it.
 */

/** How often conmon PIDs are checked. */
export const MONITOR_CHECK_INTERVAL_MS = 1000;

function runtimeOf(deps: ServerDeps, record: ContainerRecord) {
  return deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
}

/** Reports one container whose conmon is gone. */
async function monitorGone(deps: ServerDeps, record: ContainerRecord, log: Logger): Promise<void> {
  // conmon writes the exit file before it exits: the watcher's event may just not be here yet.
  const after = await refreshContainerExit(deps, record.id, log);
  if (!after || after.state === 'exited') return;
  const runtime = runtimeOf(deps, record);
  const state = await runtime.state(record.id).catch(() => undefined);
  const orphaned = state !== undefined && state.status !== 'stopped';
  if (orphaned) await runtime.stopContainer(record.id, 0, 'SIGKILL');
  await markContainerLost(deps, record.id, log, orphaned ? `${MONITOR_LOST_MESSAGE}; the container process, left unmonitored, was killed` : MONITOR_LOST_MESSAGE);
  deps.metrics.containerMonitorStopped(record.metadata.name);
  log.warn('container monitor exited without recording an exit code', { containerId: record.id, podSandboxId: record.podSandboxId, processKilled: orphaned });
}

/**
 * Checks every created or running container's conmon once, one after the other: after a
 * restart the first look at each container costs a `runc state`, which must not come as a burst.
 */
export async function checkMonitors(deps: ServerDeps, log: Logger): Promise<void> {
  for (const record of deps.containers.list()) {
    if (record.state !== 'running' && record.state !== 'created') continue;
    const alive = await runtimeOf(deps, record)
      .monitorAlive(record.id)
      .catch(() => true);
    if (alive === true) continue;
    await monitorGone(deps, record, log).catch((err: unknown) => log.warn('dead monitor not handled', { containerId: record.id, err: asError(err).message }));
  }
}

/** Starts the periodic check; returns its stop function. */
export function watchMonitors(deps: ServerDeps, log: Logger, intervalMs = MONITOR_CHECK_INTERVAL_MS): () => void {
  let running = false;
  const infra = new InfraWatch(deps, log);
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    checkMonitors(deps, log)
      .then(() => infra.check())
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
