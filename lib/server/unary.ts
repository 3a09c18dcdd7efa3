import { randomBytes } from 'node:crypto';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { OpContext } from '../context';
import type { Logger } from '../log';
import { NO_METRICS, type MetricsRecorder } from '../metrics/recorder';
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
 * signal that fires on client cancel or deadline, converts every error to a status once, and
 * logs the outcome once and counts it in the operations metrics (CRI-O's interceptor does the
 * same). Nothing below this logs-and-rethrows.
 */
export function unary<Req, Res>(rpc: string, root: Logger, handler: UnaryHandler<Req, Res>, options: UnaryOptions = {}, metrics: MetricsRecorder = NO_METRICS) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const reqId = randomBytes(4).toString('hex');
    const log = root.child({ rpc, reqId });
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
    let timer: NodeJS.Timeout | undefined;
    if (Number.isFinite(deadlineMs) && deadlineMs > 0) {
      timer = setTimeout(() => abort.abort(), Math.max(0, deadlineMs - Date.now()));
    }
    const started = process.hrtime.bigint();
    if (options.logRequest !== false) log.debug('request', { request: call.request });
    inFaultScope(rpc, () => handler({ log, signal: abort.signal }, call.request)).then(
      (res) => {
        if (timer) clearTimeout(timer);
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        metrics.operation(rpc, durationMs / 1000, false);
        if (options.compactResponse) log.debug('response', { durationMs });
        else log.debug('response', { durationMs, response: res });
        callback(null, res);
      },
      (err: unknown) => {
        if (timer) clearTimeout(timer);
        const st = toGrpcStatus(err, abort.signal.aborted);
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        metrics.operation(rpc, durationMs / 1000, true);
        if (isServerFault(st.code)) {
          log.error('rpc failed', { code: st.code, err: st.details, stack: err instanceof Error ? err.stack : undefined, durationMs });
        } else {
          log.info('rpc failed', { code: st.code, err: st.details, durationMs });
        }
        callback({ code: st.code, details: st.details }, null);
      },
    );
  };
}
