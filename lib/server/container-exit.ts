import { promises as fs } from 'node:fs';
import { ContainerEventType } from '../cri/gen/api';
import type { Logger } from '../log';
import { readOomKills } from '../oci/cgroup-stats';
import { nowNs, type ContainerRecord } from '../state/records';
import { emitContainerEvent } from './container-events';
import { containerCgroup } from './container-stats-read';
import type { ServerDeps } from './deps';

/** How much of the termination log becomes the status message (the kubelet's own cap). */
const MAX_TERMINATION_MESSAGE = 4096;

/** Nanoseconds since the epoch of a Date, as records store it. */
function dateNs(d: Date): string {
  return (BigInt(d.getTime()) * 1_000_000n).toString();
}

/** The first bytes of the container's termination log ('' when there is none). */
async function terminationMessage(file: string | undefined): Promise<string> {
  if (file === undefined) return '';
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const buf = Buffer.alloc(MAX_TERMINATION_MESSAGE);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Whether the kernel OOM-killed a process of the container: conmon's `oom` file or the memory cgroup's counter. */
async function oomKilled(deps: ServerDeps, record: ContainerRecord): Promise<boolean> {
  const runtime = deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
  if (await runtime.oomKilled(record.id).catch(() => false)) return true;
  return (await readOomKills(containerCgroup(record, deps.sandboxes.find(record.podSandboxId))).catch(() => 0n)) > 0n;
}

/**
 * Moves a created/running container to EXITED when conmon has written its exit file: exit
 * code, finish time (the file's mtime), the CRI reason (`OOMKilled` when the kernel killed a
 * process of it for memory, else `Completed` for 0 and `Error` otherwise) and the termination
 * message. Called by the exit watcher, after stops, and when the daemon starts.
 */
export async function refreshContainerExit(deps: ServerDeps, id: string, log: Logger): Promise<ContainerRecord | undefined> {
  const record = deps.containers.find(id);
  if (!record || record.state === 'exited') return record;
  const runtime = deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
  const exit = await runtime.readExitFile(id);
  if (!exit) return record;
  const [oom, message] = await Promise.all([oomKilled(deps, record), terminationMessage(record.terminationLogPath)]);
  // The exit watcher and a stop may both get here: only the one that makes the change reports it.
  let changed = false;
  const next = await deps.containers.update(id, (r) => {
    if (r.state === 'exited') return r;
    changed = true;
    return {
      ...r,
      state: 'exited',
      exitCode: exit.exitCode,
      finishedAtNs: dateNs(exit.finishedAt),
      // A container that never started still gets a start time so the kubelet sees a sane interval.
      startedAtNs: r.startedAtNs === '0' ? dateNs(exit.finishedAt) : r.startedAtNs,
      reason: r.reason || (oom ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error'),
      message: r.message || message,
      pid: 0,
    };
  });
  if (!changed) return next;
  if (next.reason === 'OOMKilled') deps.metrics.containerOom(record.metadata.name);
  log.info('container exited', { containerId: id, podSandboxId: record.podSandboxId, exitCode: exit.exitCode, reason: next.reason });
  emitContainerEvent(deps, id, ContainerEventType.CONTAINER_STOPPED_EVENT);
  await killLeftovers(deps, next, log);
  return next;
}

/** Kills processes an exited container left in its cgroup (children of its init in a shared PID namespace). Best effort. */
export async function killLeftovers(deps: ServerDeps, record: ContainerRecord, log: Logger): Promise<void> {
  const runtime = deps.runtimeFor(deps.sandboxes.find(record.podSandboxId)?.runtimeHandler ?? '');
  const killed = await runtime.killLeftovers(record.id, containerCgroup(record, deps.sandboxes.find(record.podSandboxId))).catch((err: unknown) => {
    log.warn('processes left by an exited container not killed', { containerId: record.id, err: err instanceof Error ? err.message : String(err) });
    return false;
  });
  if (killed) log.info('processes left by an exited container killed', { containerId: record.id, podSandboxId: record.podSandboxId });
}

/** ContainerStatus.message of a container whose conmon died before it could record an exit code. */
export const MONITOR_LOST_MESSAGE = 'conmon exited without recording an exit code';
/** CRI-O's exit code for a container whose exit code is unknown. */
export const LOST_EXIT_CODE = 255;

/**
 * Records a container whose process the runtime lost track of (conmon gone, no exit file) as
 * exited with CRI-O's code for that (255), reason Error, and emits its event.
 */
export async function markContainerLost(deps: ServerDeps, id: string, log: Logger, message = MONITOR_LOST_MESSAGE): Promise<void> {
  const record = deps.containers.find(id);
  if (!record || record.state === 'exited') return;
  let changed = false;
  await deps.containers.update(id, (r) => {
    if (r.state === 'exited') return r;
    changed = true;
    return {
      ...r,
      state: 'exited',
      reason: r.reason || 'Error',
      message: r.message || message,
      exitCode: r.exitCode || LOST_EXIT_CODE,
      finishedAtNs: r.finishedAtNs === '0' ? nowNs() : r.finishedAtNs,
      // A container killed before it started still gets a start time, so the kubelet sees a sane interval.
      startedAtNs: r.startedAtNs === '0' ? nowNs() : r.startedAtNs,
      pid: 0,
    };
  });
  if (!changed) return;
  emitContainerEvent(deps, id, ContainerEventType.CONTAINER_STOPPED_EVENT);
  const next = deps.containers.find(id);
  if (next) await killLeftovers(deps, next, log);
}
