import type { Logger } from './log';

/**
 * The Go `ctx` analogue: the first argument of every operation that does I/O. It carries the
 * request's logger (already holding `rpc`, `reqId` and whatever IDs are known) and an abort
 * signal that fires when the client cancels or the deadline passes.
 */
export interface OpContext {
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/** A context that never aborts: for start-up, shutdown and cleanup work. */
export function backgroundContext(log: Logger): OpContext {
  return { log, signal: new AbortController().signal };
}

/** Same signal (read only when used: making it may start a deadline timer), narrower logger. */
export function withLogFields(ctx: OpContext, fields: Parameters<Logger['child']>[0]): OpContext {
  return {
    log: ctx.log.child(fields),
    get signal() {
      return ctx.signal;
    },
  };
}
