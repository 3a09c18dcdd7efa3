import { randomBytes } from 'node:crypto';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { OpContext } from '../context';
import type { Logger } from '../log';
import { NO_METRICS, type MetricsRecorder } from '../metrics/recorder';
import { isServerFault, toGrpcStatus } from './status';

/**
 * A server-streaming RPC implementation: writes messages with `send` (which waits while the client
 * is slow and rejects once it is gone) and resolves when the stream is complete. No gRPC types.
 */
export type StreamHandler<Req, Res> = (ctx: OpContext, req: Req, send: (msg: Res) => Promise<void>) => Promise<void>;

/**
 * Adapts a stream handler to grpc-js the way unary() does for unary calls: request ID and child
 * logger, an abort signal for client cancel or deadline, errors mapped to a status once (status.ts)
 * and the outcome logged and counted (operations metrics) once.
 */
export function serverStream<Req, Res>(rpc: string, root: Logger, handler: StreamHandler<Req, Res>, metrics: MetricsRecorder = NO_METRICS) {
  return (call: ServerWritableStream<Req, Res>): void => {
    const log = root.child({ rpc, reqId: randomBytes(4).toString('hex') });
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    call.on('close', () => abort.abort());
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
    const timer = Number.isFinite(deadlineMs) && deadlineMs > 0 ? setTimeout(() => abort.abort(), Math.max(0, deadlineMs - Date.now())) : undefined;
    const started = process.hrtime.bigint();
    let messages = 0;
    const send = async (msg: Res): Promise<void> => {
      if (abort.signal.aborted) throw new Error(`${rpc}: the client went away`);
      messages++;
      if (call.write(msg)) return;
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          abort.signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          call.off('drain', onDrain);
          reject(new Error(`${rpc}: the client went away`));
        };
        call.once('drain', onDrain);
        abort.signal.addEventListener('abort', onAbort, { once: true });
      });
    };
    log.debug('request', { request: call.request });
    handler({ log, signal: abort.signal }, call.request, send).then(
      () => {
        if (timer) clearTimeout(timer);
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        metrics.operation(rpc, durationMs / 1000, false);
        log.debug('stream done', { messages, durationMs });
        if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        if (timer) clearTimeout(timer);
        const st = toGrpcStatus(err, abort.signal.aborted);
        const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
        metrics.operation(rpc, durationMs / 1000, true);
        if (isServerFault(st.code))
          log.error('rpc failed', { code: st.code, err: st.details, stack: err instanceof Error ? err.stack : undefined, durationMs });
        else log.info('rpc failed', { code: st.code, err: st.details, durationMs });
        if (!call.cancelled) call.emit('error', { code: st.code, details: st.details });
      },
    );
  };
}
