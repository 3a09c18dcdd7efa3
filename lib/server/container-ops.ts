import { promises as fs } from 'node:fs';
import { ContainerEventType, Signal, signalFromJSON, signalToJSON } from '../cri/gen/api';
import type { Logger } from '../log';
import type { ContainerRecord } from '../state/records';
import { containerConfig } from './container-convert';
import { emitContainerEvent } from './container-events';
import { killLeftovers, markContainerLost, refreshContainerExit } from './container-exit';
import type { ServerDeps } from './deps';
import { faultPoint } from '../fault-points';
import { allDone } from '../cleanup';

/**
 * Stop and remove steps shared by the container RPCs and the pod RPCs that must stop or remove
 * every container of a pod.
 */

function runtimeOf(deps: ServerDeps, record: ContainerRecord) {
  return deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
}

/** Linux's SIGRTMIN and SIGRTMAX (glibc reserves the first two real-time signals, so runc's names would be off). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** CRI Signal enum → what `runc kill` takes: a name like "SIGTERM", or a number for real-time signals. */
export function criSignalName(signal: Signal): string | number | undefined {
  if (signal === Signal.SIGNAL_RUNTIME_DEFAULT || signal === Signal.UNRECOGNIZED) return undefined;
  const name = signalToJSON(signal).replace(/^SIGNAL_/, '');
  const plus = /^SIGRTMINPLUS(\d+)$/.exec(name);
  if (plus) return SIGRTMIN + Number(plus[1]);
  const minus = /^SIGRTMAXMINUS(\d+)$/.exec(name);
  if (minus) return SIGRTMAX - Number(minus[1]);
  if (name === 'SIGRTMIN') return SIGRTMIN;
  if (name === 'SIGRTMAX') return SIGRTMAX;
  return name;
}

/** Image STOPSIGNAL ("SIGQUIT", "QUIT", "3") → CRI Signal enum, for ContainerStatus.stop_signal. */
export function imageSignalEnum(stopSignal: string): Signal {
  if (stopSignal === '' || /^\d+$/.test(stopSignal)) return Signal.SIGNAL_RUNTIME_DEFAULT;
  const name = stopSignal
    .toUpperCase()
    .replace(/^(SIG)?/, 'SIG')
    .replace('+', 'PLUS')
    .replace('-', 'MINUS');
  const value = signalFromJSON(`SIGNAL_${name}`);
  return value === Signal.UNRECOGNIZED ? Signal.SIGNAL_RUNTIME_DEFAULT : value;
}

/** The container's stop signal: CRI config, else the image's STOPSIGNAL, else SIGTERM. */
export async function stopSignalOf(deps: ServerDeps, record: ContainerRecord): Promise<string | number> {
  const fromConfig = criSignalName(containerConfig(record).stopSignal);
  if (fromConfig !== undefined) return fromConfig;
  const image = await deps.images.status(record.image.id);
  return image?.config.stopSignal || 'SIGTERM';
}

/**
 * Stops a container: stop signal, SIGKILL after `timeoutSec` (retried with backoff until it is
 * gone); a concurrent stop with a shorter timeout shortens the wait. Idempotent.
 */
export async function stopContainerRecord(deps: ServerDeps, record: ContainerRecord, timeoutSec: number, log: Logger): Promise<void> {
  const runtime = runtimeOf(deps, record);
  if (record.state === 'running') {
    await runtime.stopContainer(record.id, timeoutSec, () => stopSignalOf(deps, record));
  } else if (record.state === 'created') {
    // Never started: the init process waits in runc's exec fifo; killing it yields an exit file.
    await runtime.stopContainer(record.id, 0, 'SIGKILL');
  }
  const worked = record.state !== 'exited';
  if (worked) faultPoint('container-stop:process-gone');
  const after = await refreshContainerExit(deps, record.id, log);
  // The runtime no longer knows it (e.g. conmon died): record it as exited without a code.
  if (after && after.state !== 'exited') await markContainerLost(deps, record.id, log);
  // The exit watcher may have recorded the exit first and still be killing what the init left.
  if (after) await killLeftovers(deps, after, log);
  if (worked) faultPoint('container-stop:recorded');
  if (record.state !== 'exited') log.info('container stopped', { containerId: record.id, podSandboxId: record.podSandboxId });
}

/** Removes a container: force-stop, runtime delete, rootfs, bundle, conmon files, record, name. Idempotent. */
export async function removeContainerRecord(deps: ServerDeps, record: ContainerRecord, log: Logger): Promise<void> {
  if (record.state === 'running' || record.state === 'created') await stopContainerRecord(deps, record, 0, log);
  const runtime = runtimeOf(deps, record);
  const last = deps.containers.find(record.id) ?? record;
  // runc's state and the writable layer are independent: `runc delete` and the rootfs unmount
  // run at once (each is a spawn). The bundle goes after runc, whose poststop hooks may read it.
  const runtimeDeleted = (async () => {
    await runtime.delete(record.id, true);
    faultPoint('container-remove:runtime-deleted');
    await runtime.removeContainerFiles(record.id);
  })();
  const layerRemoved = (async () => {
    await deps.containerLayers.remove(record.id);
    faultPoint('container-remove:layer-removed');
  })();
  await allDone([runtimeDeleted, layerRemoved]);
  await fs.rm(record.bundleDir, { recursive: true, force: true });
  faultPoint('container-remove:bundle-removed');
  await deps.containers.delete(record.id);
  faultPoint('container-remove:recorded');
  deps.containerNames.release(record.reservedName, record.id);
  deps.statsCache.forget(record.id);
  if (last.reason === 'OOMKilled') deps.metrics.containerRemoved(record.metadata.name);
  log.info('container removed', { containerId: record.id, podSandboxId: record.podSandboxId });
  emitContainerEvent(deps, record.id, ContainerEventType.CONTAINER_DELETED_EVENT, last);
}
