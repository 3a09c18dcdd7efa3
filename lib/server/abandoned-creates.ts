import { ContainerEventType } from '../cri/gen/api';
import { asError } from '../errors';
import type { Logger } from '../log';
import { isClaimed, type ContainerRecord } from '../state/records';
import { emitContainerEvent } from './container-events';
import { removeContainerRecord } from './container-ops';
import type { ServerDeps } from './deps';

/**
 * Containers whose CreateContainer caller gave up (its deadline passed) before the create
 * finished, as CRI-O's resourcestore keeps them: the kubelet never got their ID, so they are
 * left out of ListContainers, ContainerStatus and the other lookups until the identical retry
 * claims them (NameRegistry hands the retry the same ID); without a retry they are removed.
 * The mark is in the record, so a daemon restart keeps them hidden and restarts the clock.
 */

/** How long an abandoned container waits for its retry (CRI-O: between one and two minutes). */
export const ABANDONED_CREATE_TIMEOUT_MS = 120_000;
/** The environment variable that shortens ABANDONED_CREATE_TIMEOUT_MS (tests). */
export const ABANDONED_CREATE_TIMEOUT_ENV = 'CRIO_TS_ABANDONED_CREATE_TIMEOUT_MS';

function defaultTimeoutMs(): number {
  const fromEnv = Number(process.env[ABANDONED_CREATE_TIMEOUT_ENV]);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : ABANDONED_CREATE_TIMEOUT_MS;
}

/** Delay before a failed removal is tried again. */
const RETRY_MS = 10_000;

/** Removal timers of the abandoned containers of one daemon. */
export class AbandonedCreates {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private deps: ServerDeps | undefined;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs = defaultTimeoutMs(),
  ) {}

  /** Starts the clocks of the abandoned containers in the restored records (after restoreState). */
  start(deps: ServerDeps): void {
    this.deps = deps;
    for (const record of deps.containers.list()) if (!isClaimed(record)) this.watch(record);
  }

  /** Schedules the removal of an abandoned container `timeoutMs` after it was abandoned. */
  watch(record: ContainerRecord): void {
    if (record.abandonedAtNs === undefined) return;
    const elapsedMs = Number((BigInt(Date.now()) * 1_000_000n - BigInt(record.abandonedAtNs)) / 1_000_000n);
    this.schedule(record.id, Math.max(0, this.timeoutMs - elapsedMs));
  }

  /** The identical retry came: the container becomes visible (and its CREATED event goes out). */
  async claim(id: string, log: Logger): Promise<void> {
    const deps = this.deps;
    const record = deps?.containers.find(id);
    if (!deps || !record || isClaimed(record)) return;
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    await deps.containers.update(id, (r) => {
      const { abandonedAtNs: _gone, ...claimed } = r;
      return claimed;
    });
    log.info('abandoned container claimed by a retry', { containerId: id, podSandboxId: record.podSandboxId });
    emitContainerEvent(deps, id, ContainerEventType.CONTAINER_CREATED_EVENT);
  }

  /** Stops every timer (daemon shutdown); the marks stay in the records. */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(id: string, delayMs: number): void {
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(() => void this.expire(id), delayMs);
    timer.unref(); // the record keeps the mark: a stopping daemon need not wait
    this.timers.set(id, timer);
  }

  private async expire(id: string): Promise<void> {
    this.timers.delete(id);
    const deps = this.deps;
    const record = deps?.containers.find(id);
    if (!deps || !record || isClaimed(record)) return;
    const log = this.log.child({ containerId: id, podSandboxId: record.podSandboxId });
    try {
      await removeContainerRecord(deps, record, log);
      log.info('abandoned container removed: no retry claimed it', { name: record.reservedName });
    } catch (err) {
      log.warn('abandoned container removal failed; retrying later', { err: asError(err).message });
      this.schedule(id, RETRY_MS);
    }
  }
}
