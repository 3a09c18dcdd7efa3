import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ApiConfig } from '../config/config';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS, streamingOptionsFromConfig } from './config';

const base: ApiConfig = {
  listen: '/run/crio/crio.sock',
  stream_address: '127.0.0.1',
  stream_port: '0',
  stream_enable_tls: false,
  stream_tls_cert: '',
  stream_tls_key: '',
  stream_tls_ca: '',
  stream_idle_timeout: '',
  grpc_max_send_msg_size: 0,
  grpc_max_recv_msg_size: 0,
};

const cases: Array<{ name: string; api: Partial<ApiConfig>; expect?: { port: number; idleTimeoutMs: number }; error?: RegExp }> = [
  { name: 'defaults: a free port, the 4h idle timeout', api: {}, expect: { port: 0, idleTimeoutMs: DEFAULT_STREAM_IDLE_TIMEOUT_MS } },
  { name: 'a port and a Go duration', api: { stream_port: '10010', stream_idle_timeout: '1m30s' }, expect: { port: 10010, idleTimeoutMs: 90_000 } },
  { name: 'a port out of range', api: { stream_port: '70000' }, error: /stream_port/ },
  { name: 'a port that is no number', api: { stream_port: 'http' }, error: /stream_port/ },
  { name: 'a TLS file that does not exist', api: { stream_enable_tls: true, stream_tls_cert: '/nonexistent/cert', stream_tls_key: '/nonexistent/key' }, error: /stream_tls_cert.*\/nonexistent\/cert/ },
];

for (const c of cases) {
  test(c.name, async () => {
    const p = streamingOptionsFromConfig({ ...base, ...c.api });
    if (c.error) return assert.rejects(p, (err: Error) => err instanceof InvalidArgumentError && (c.error as RegExp).test(err.message));
    const got = await p;
    assert.deepEqual({ port: got.port, idleTimeoutMs: got.idleTimeoutMs }, c.expect);
  });
}

test('TLS files are read; no CA means clients are not verified', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stream-tls-'));
  try {
    await fs.writeFile(path.join(dir, 'cert'), 'CERT');
    await fs.writeFile(path.join(dir, 'key'), 'KEY');
    const got = await streamingOptionsFromConfig({ ...base, stream_enable_tls: true, stream_tls_cert: path.join(dir, 'cert'), stream_tls_key: path.join(dir, 'key') });
    assert.deepEqual(got.tls, { cert: Buffer.from('CERT'), key: Buffer.from('KEY'), ca: undefined });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
