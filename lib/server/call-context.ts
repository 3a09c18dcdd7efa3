import { randomFillSync } from 'node:crypto';
import type { OpContext } from '../context';
import type { Logger } from '../log';

/**
 * The OpContext of one RPC, built so that a call that needs nothing pays for nothing: the child
 * logger (`rpc`, `reqId`) is made when something logs, and the AbortController with its deadline
 * timer when the handler first reads `signal`. List and Status calls read neither, and an
 * AbortController with a timer cost ~30 µs per call (perf-notes), as did a `randomBytes` per
 * request ID. Its properties are getters: pass the object on, never spread it.
 */

/** Random bytes for request IDs, refilled 4 KiB at a time instead of a system call per request. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** 8 random hex digits (CRI-O's request IDs are random too). */
export function nextRequestId(): string {
  if (poolOffset + 4 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 4;
  return pool.toString('hex', poolOffset - 4, poolOffset);
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class CallContext implements OpContext {
  readonly reqId = nextRequestId();
  private child: Logger | undefined;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private cancelled = false;
  private done = false;

  /** `deadlineMs`: the client's deadline (epoch ms), or Infinity. */
  constructor(
    private readonly root: Logger,
    private readonly rpc: string,
    private readonly deadlineMs: number,
  ) {}

  get log(): Logger {
    this.child ??= this.root.child({ rpc: this.rpc, reqId: this.reqId });
    return this.child;
  }

  /** Fires on client cancel or at the deadline. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.cancelled || Date.now() >= this.deadlineMs) controller.abort();
      // Past setTimeout's range (~24.8 days) a deadline is as good as none.
      else if (this.deadlineMs - Date.now() <= MAX_TIMER_MS && !this.done) this.timer = setTimeout(() => controller.abort(), this.deadlineMs - Date.now());
    }
    return this.controller.signal;
  }

  /** Whether the call was cancelled or its deadline has passed (an error then is reported as CANCELLED). */
  get aborted(): boolean {
    return this.cancelled || Date.now() >= this.deadlineMs || (this.controller?.signal.aborted ?? false);
  }

  /** The client cancelled or went away. Ignored once the call is answered: grpc-js reports every stream close as 'cancelled'. */
  cancel(): void {
    if (this.done || this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort();
  }

  /** The call is answered: no deadline timer stays behind. */
  finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/** A grpc-js call's deadline as epoch ms (Infinity when the client set none). */
export function deadlineOf(deadline: Date | number): number {
  const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Number.isFinite(ms) && ms > 0 ? ms : Infinity;
}
