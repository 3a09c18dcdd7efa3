import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { OpContext } from '../context';
import type { Logger } from '../log';
import { NO_METRICS, type MetricsRecorder } from '../metrics/recorder';
import { CallContext, deadlineOf } from './call-context';
import { isServerFault, toGrpcStatus } from './status';
import { inFaultScope } from '../fault-points';

/** An RPC implementation: plain async function, no gRPC types. */
export type UnaryHandler<Req, Res> = (ctx: OpContext, req: Req) => Promise<Res>;

export interface UnaryOptions {
  /** Log the request body at debug level (off for RPCs whose requests carry secrets). */
  logRequest?: boolean;
  /** Summarise the response at debug level instead of dumping it (List RPCs, cf. CRI-O #9894). */
  compactResponse?: boolean;
}

/**
 * Adapts an async handler to grpc-js: gives the call a request ID and child logger, an abort
 * signal that fires on client cancel or deadline (both made only when used: call-context.ts),
 * converts every error to a status once, and logs the outcome once and counts it in the
 * operations metrics (CRI-O's interceptor does the same). Nothing below this logs-and-rethrows.
 */
export function unary<Req, Res>(rpc: string, root: Logger, handler: UnaryHandler<Req, Res>, options: UnaryOptions = {}, metrics: MetricsRecorder = NO_METRICS) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const ctx = new CallContext(root, rpc, deadlineOf(call.getDeadline()));
    call.on('cancelled', () => ctx.cancel());
    const started = process.hrtime.bigint();
    // Through the root logger with the bindings as fields: no child logger unless a line is written.
    if (options.logRequest !== false) root.debug('request', { rpc, reqId: ctx.reqId, request: call.request });
    inFaultScope(rpc, () => handler(ctx, call.request)).then(
      (res) => {
        ctx.finish();
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        metrics.operation(rpc, durationMs / 1000, false);
        root.debug('response', { rpc, reqId: ctx.reqId, durationMs, response: options.compactResponse ? undefined : res });
        callback(null, res);
      },
      (err: unknown) => {
        const st = toGrpcStatus(err, ctx.aborted);
        ctx.finish();
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        metrics.operation(rpc, durationMs / 1000, true);
        if (isServerFault(st.code)) {
          ctx.log.error('rpc failed', { code: st.code, err: st.details, stack: err instanceof Error ? err.stack : undefined, durationMs });
        } else {
          ctx.log.info('rpc failed', { code: st.code, err: st.details, durationMs });
        }
        callback({ code: st.code, details: st.details }, null);
      },
    );
  };
}
