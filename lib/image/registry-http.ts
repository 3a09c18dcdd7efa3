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

/** OpenSSL's verdicts on a certificate chain, in words an operator can act on. */
const CERTIFICATE_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a self-signed CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the issuing CA is not trusted on this node',
  UNABLE_TO_GET_ISSUER_CERT: 'the issuing CA is not trusted on this node',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate cannot be verified (issuer unknown)',
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet (check the node clock)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is not issued for this host name',
  CERT_REVOKED: 'the certificate has been revoked',
  CERT_SIGNATURE_FAILURE: 'the certificate signature is invalid',
};

/**
 * A TLS failure in words: a plain-HTTP answer to our handshake, or why the certificate was
 * refused; undefined for other errors.
 */
export function describeTlsError(err: unknown, host: string): string | undefined {
  const code = errnoCode(err) ?? '';
  const detail = err instanceof Error ? err.message : String(err);
  // OpenSSL reads an HTTP response where a TLS record should be: the registry speaks plain HTTP.
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|http request/i.test(detail)) {
    return `registry ${host} answered plain HTTP to an HTTPS request; mark it \`insecure = true\` in registries.conf`;
  }
  const reason = CERTIFICATE_REASONS[code];
  if (reason !== undefined) {
    return `registry ${host}: TLS certificate refused: ${reason} (${code}); trust its CA on this node, or mark the registry \`insecure = true\` in registries.conf`;
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) return `registry ${host}: TLS handshake failed: ${detail} (${code})`;
  return undefined;
}

/** Wraps a network/TLS error as UnavailableError naming the host; leaves aborts and typed errors alone. */
export function networkError(err: unknown, host: string): unknown {
  if (isAbort(err) || err instanceof UnavailableError) return err;
  const code = errnoCode(err) ?? '';
  const detail = err instanceof Error ? err.message : String(err);
  const tls = describeTlsError(err, host);
  if (tls !== undefined) return new UnavailableError(tls, { cause: err });
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
