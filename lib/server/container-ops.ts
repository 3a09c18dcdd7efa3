import { promises as fs } from 'node:fs';
import type { Logger } from '../log';
import type { ContainerRecord } from '../state/records';
import type { ServerDeps } from './deps';
import { refreshContainerExit } from './container-exit';
import { containerConfig } from './container-convert';

/**
 * Stop and remove steps shared by the container RPCs and the pod RPCs that must stop or remove
 * every container of a pod.
 */

function runtimeOf(deps: ServerDeps, record: ContainerRecord) {
  return deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
}

/** Signal name for the container's stop signal: CRI config, else the image's, else SIGTERM. */
export function stopSignalOf(deps: ServerDeps, record: ContainerRecord): string {
  const cfg = containerConfig(record);
  if (cfg.stopSignal) return `SIG${signalName(cfg.stopSignal)}`;
  const image = deps.images.status(record.image.id);
  return image?.config.stopSignal || 'SIGTERM';
}

/** CRI Signal enum values follow Linux signal numbers' names in order (RUNTIME_DEFAULT = 0). */
function signalName(n: number): string {
  const names = ['', 'HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM', 'TERM'];
  return names[n] ?? 'TERM';
}

/** Stops a container (stop signal, then SIGKILL after `timeoutSec`); idempotent. */
export async function stopContainerRecord(deps: ServerDeps, record: ContainerRecord, timeoutSec: number, log: Logger): Promise<void> {
  if (record.state === 'running') {
    await runtimeOf(deps, record).stopContainer(record.id, timeoutSec, stopSignalOf(deps, record));
  } else if (record.state === 'created') {
    // Never started: the init process waits in runc's exec fifo; killing it yields an exit file.
    await runtimeOf(deps, record).kill(record.id, 'SIGKILL').catch(() => undefined);
  }
  const after = await refreshContainerExit(deps, record.id, log);
  if (after && after.state !== 'exited') {
    // The runtime no longer knows it (e.g. conmon died): record it as exited without a code.
    await deps.containers.update(record.id, (r) => ({ ...r, state: 'exited', reason: r.reason || 'Error', exitCode: r.exitCode || 255, pid: 0 }));
  }
  if (record.state !== 'exited') log.info('container stopped', { containerId: record.id, podSandboxId: record.podSandboxId });
}

/** Removes a container: force-stop, runtime delete, rootfs, bundle, record, name. Idempotent. */
export async function removeContainerRecord(deps: ServerDeps, record: ContainerRecord, log: Logger): Promise<void> {
  if (record.state === 'running' || record.state === 'created') await stopContainerRecord(deps, record, 0, log);
  await runtimeOf(deps, record).delete(record.id, true);
  await deps.containerLayers.remove(record.id);
  await fs.rm(record.bundleDir, { recursive: true, force: true });
  await deps.containers.delete(record.id);
  deps.containerNames.release(record.reservedName, record.id);
  log.info('container removed', { containerId: record.id, podSandboxId: record.podSandboxId });
}
