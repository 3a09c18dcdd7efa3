import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { errnoCode, ResourceExhaustedError, UnavailableError } from '../errors';

/**
 * One HTTP exchange with a registry over node:http / node:https, so `insecure` can mean
 * plain HTTP or unverified TLS. Network failures become UnavailableError naming the host;
 * cancellation (ctx.signal) surfaces as the AbortError node raises.
 */

/** A request to send. */
export interface HttpRequestOptions {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Accept any TLS certificate (registries.conf `insecure = true`). */
  insecureTls?: boolean;
  signal?: AbortSignal;
  /** Socket idle timeout: no byte in this long fails the request or the body stream. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Error codes that mean "the registry is not reachable right now". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED',
  'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
]);

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || errnoCode(err) === 'ABORT_ERR');
}

/** Wraps a network/TLS error as UnavailableError naming the host; leaves aborts and typed errors alone. */
export function networkError(err: unknown, host: string): unknown {
  if (isAbort(err) || err instanceof UnavailableError) return err;
  const code = errnoCode(err) ?? '';
  const detail = err instanceof Error ? err.message : String(err);
  if (NETWORK_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /certificate|socket hang up|aborted/i.test(detail)) {
    return new UnavailableError(`registry ${host} unavailable: ${detail}`, { cause: err });
  }
  return err;
}

/** Sends a request and resolves with the response head; the body is left to the caller. */
export function httpRequest(url: URL, options: HttpRequestOptions = {}): Promise<IncomingMessage> {
  const host = url.host;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'http:' ? http : https;
    const req = mod.request(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      signal: options.signal,
      rejectUnauthorized: !options.insecureTls,
      timeout: timeoutMs,
    });
    let res: IncomingMessage | undefined;
    req.on('timeout', () => {
      const err = new UnavailableError(`registry ${host} unavailable: no data for ${timeoutMs} ms`);
      if (res) res.destroy(err);
      req.destroy(err);
    });
    req.on('error', (err) => reject(networkError(err, host)));
    req.on('response', (r) => {
      res = r;
      resolve(r);
    });
    req.end(options.body);
  });
}

/** The response body as a stream whose errors are already mapped (network → UnavailableError). */
export function bodyStream(res: IncomingMessage, host: string): Readable {
  const out = new PassThrough();
  res.on('error', (err) => out.destroy(networkError(err, host) as Error));
  res.on('aborted', () => out.destroy(new UnavailableError(`registry ${host} unavailable: connection closed mid-body`)));
  // A consumer that gives up (verification failed, aborted) must free the socket.
  out.on('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}

/** Reads a whole body, refusing more than `limit` bytes (ResourceExhaustedError naming `what`). */
export async function readBody(res: IncomingMessage, host: string, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    res.destroy();
    throw new ResourceExhaustedError(`${what} is ${declared} bytes, more than the limit of ${limit}`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res) {
      const b = chunk as Buffer;
      n += b.length;
      if (n > limit) {
        res.destroy();
        throw new ResourceExhaustedError(`${what} is more than the limit of ${limit} bytes`);
      }
      chunks.push(b);
    }
  } catch (err) {
    throw networkError(err, host);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a body so the connection can be reused. */
export function discardBody(res: IncomingMessage): void {
  res.resume();
}
