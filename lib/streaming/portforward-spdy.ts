import type { Logger } from '../log';
import type { StreamRuntime } from './runtime';
import { replyToStream, type SpdySession, type SpdyStream } from './spdy-session';

/**
 * Port forwarding over SPDY (the kubelet's portforward httpStreamHandler): for every forwarded
 * connection the client opens an `error` and a `data` stream with the same `requestID` and a
 * `port` header; the data stream is relayed to that port in the pod and the error stream gets a
 * message if the relay fails. Pairs are independent, so connections run concurrently.
 */

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** The kubelet's message, so users see the same text as with CRI-O. */
export function forwardErrorMessage(port: number | string, podSandboxId: string, err: unknown): string {
  return `error forwarding port ${port} to pod ${podSandboxId}, uid : ${err instanceof Error ? err.message : String(err)}`;
}

/** Parses a port header or query value: 1..65535. */
export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** The pairing key: requestID, or (old clients) one derived from stream IDs as the kubelet does. */
function requestId(stream: SpdyStream): string {
  const id = stream.headers['requestid'];
  if (id !== undefined && id !== '') return id;
  return String(stream.headers['streamtype'] === 'data' ? stream.id - 2 : stream.id);
}

/** Serves every pair the client opens until `closed` aborts. */
export function servePortForwardSpdy(session: SpdySession, podSandboxId: string, runtime: StreamRuntime, closed: AbortSignal, pairTimeoutMs: number, log: Logger): void {
  const pairs = new Map<string, Pair>();
  session.on('stream', (stream: SpdyStream) => {
    replyToStream(stream);
    const type = stream.headers['streamtype'];
    if (type !== 'data' && type !== 'error') {
      stream.end();
      return;
    }
    const id = requestId(stream);
    let pair = pairs.get(id);
    if (!pair) {
      const created: Pair = { timer: setTimeout(() => abandon(id, created), pairTimeoutMs) };
      pair = created;
      pairs.set(id, pair);
    }
    if (pair[type]) return; // a duplicate: the kubelet rejects it; the first one wins
    pair[type] = stream;
    if (type === 'error') stream.resume(); // the client never writes to it; let its half close through
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      void forward(pair.data, pair.error);
    }
  });

  const abandon = (id: string, pair: Pair): void => {
    pairs.delete(id);
    pair.error?.end(`timed out waiting for the data and error streams of request ${id}`);
    pair.data?.end();
  };

  const forward = async (data: SpdyStream, error: SpdyStream): Promise<void> => {
    const header = data.headers['port'];
    const port = parsePort(header);
    try {
      if (port === undefined) throw new Error(`invalid port ${JSON.stringify(header ?? '')}`);
      await runtime.portForward(podSandboxId, port, data, closed, log);
    } catch (err) {
      log.debug('port forward failed', { podSandboxId, port: header, err: err instanceof Error ? err.message : String(err) });
      error.write(forwardErrorMessage(header ?? '', podSandboxId, err));
    } finally {
      data.end();
      error.end();
    }
  };

  closed.addEventListener('abort', () => {
    for (const [id, pair] of pairs) {
      clearTimeout(pair.timer);
      pairs.delete(id);
    }
  });
}
