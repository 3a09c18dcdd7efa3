import { promises as fs } from 'node:fs';
import type { ApiConfig } from '../config/config';
import { parseDuration } from '../config/duration';
import { InvalidArgumentError } from '../errors';
import type { StreamingServerOptions } from './server';

/** The settings of `[crio.api]` the streaming server uses, in the form StreamingServer takes. */
export type StreamingListenOptions = Pick<StreamingServerOptions, 'address' | 'port' | 'tls' | 'idleTimeoutMs'>;

/** CRI-O's default stream_idle_timeout (the kubelet streaming default, 4h) applies when the key is empty. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;

/** Reads the listen address, port, TLS files and idle timeout from `[crio.api]`. */
export async function streamingOptionsFromConfig(api: ApiConfig): Promise<StreamingListenOptions> {
  const port = Number(api.stream_port);
  if (!/^\d+$/.test(api.stream_port) || port > 65535) {
    throw new InvalidArgumentError(`crio.api.stream_port: expected a port number 0-65535, got ${JSON.stringify(api.stream_port)}`);
  }
  const idleTimeoutMs = api.stream_idle_timeout === '' ? DEFAULT_STREAM_IDLE_TIMEOUT_MS : parseDuration(api.stream_idle_timeout);
  const read = async (key: 'stream_tls_cert' | 'stream_tls_key' | 'stream_tls_ca'): Promise<Buffer> => {
    try {
      return await fs.readFile(api[key]);
    } catch (err) {
      throw new InvalidArgumentError(`crio.api.${key}: cannot read ${api[key]}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  const tls = api.stream_enable_tls
    ? { cert: await read('stream_tls_cert'), key: await read('stream_tls_key'), ca: api.stream_tls_ca === '' ? undefined : await read('stream_tls_ca') }
    : undefined;
  return { address: api.stream_address, port, tls, idleTimeoutMs: Math.max(0, Math.round(idleTimeoutMs)) };
}
