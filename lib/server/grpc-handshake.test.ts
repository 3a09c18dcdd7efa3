import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { credentials, Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { RuntimeServiceClient, RuntimeServiceService, VersionRequest, VersionResponse } from '../cri/gen/api';
import { peekGrpcConnection, type Handover } from './grpc-handshake';

/**
 * The first-request peek against grpc-js's real server and real clients: which connections get
 * the native socket, which the rewriting stream, and that every kind of client is answered.
 */

const dir = mkdtempSync(path.join(os.tmpdir(), 'crio-ts-handshake-'));
const socketPath = path.join(dir, 'crio.sock');
const server = new Server();
const listener = net.createServer((socket) => peekGrpcConnection(socket, (h) => onHandover(h)));
const kinds: Handover['kind'][] = [];
let onHandover: (h: Handover) => void = () => undefined;

before(async () => {
  server.addService(RuntimeServiceService, {
    version: (_call: ServerUnaryCall<VersionRequest, VersionResponse>, cb: sendUnaryData<VersionResponse>) =>
      cb(null, { version: '0.1.0', runtimeName: 'crio-ts', runtimeVersion: '0.1.0', runtimeApiVersion: 'v1' }),
  });
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  onHandover = (h) => {
    kinds.push(h.kind);
    injector.injectConnection(h.kind === 'native' ? h.socket : h.stream);
  };
  await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
});

after(() => {
  listener.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function versions(options: Record<string, string> | undefined, calls: number): Promise<string[]> {
  const client = new RuntimeServiceClient(`unix://${socketPath}`, credentials.createInsecure(), options);
  try {
    const names: string[] = [];
    for (let i = 0; i < calls; i++) {
      names.push(await new Promise<string>((resolve, reject) => client.version(VersionRequest.fromPartial({}), (err, res) => (err ? reject(err) : resolve(res.runtimeName)))));
    }
    return names;
  } finally {
    client.close();
  }
}

/** One gRPC Version call over Node's own HTTP/2 client, sent only once the server's SETTINGS are in (as gRPC-Go does), optionally after a PING. */
async function h2Version(authority: string, pingFirst: boolean): Promise<{ status: string | undefined; body: Buffer }> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('remoteSettings', () => resolve());
      session.once('error', reject);
    });
    if (pingFirst) await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    const req = session.request({
      ':method': 'POST',
      ':path': '/runtime.v1.RuntimeService/Version',
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.once('trailers', resolve));
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    await new Promise((resolve, reject) => {
      req.once('end', resolve);
      req.once('error', reject);
    });
    const t = await trailers;
    return { status: t['grpc-status'] as string | undefined, body: Buffer.concat(chunks).subarray(5) };
  } finally {
    session.close();
  }
}

test('a client with a valid :authority gets the native socket', async () => {
  kinds.length = 0;
  assert.deepEqual(await versions(undefined, 3), ['crio-ts', 'crio-ts', 'crio-ts']);
  assert.deepEqual(kinds, ['native']);
});

test('a client sending the socket path as :authority (kubelet ≤ 1.26) is served through the rewriting stream', async () => {
  kinds.length = 0;
  assert.deepEqual(await versions({ 'grpc.default_authority': socketPath }, 3), ['crio-ts', 'crio-ts', 'crio-ts']);
  assert.deepEqual(kinds, ['rewrite']);
});

test('a client that waits for the server SETTINGS before its first request (gRPC-Go) is served', async () => {
  kinds.length = 0;
  const r = await h2Version('localhost', false);
  assert.equal(r.status, '0');
  assert.equal(VersionResponse.decode(r.body).runtimeName, 'crio-ts');
  assert.deepEqual(kinds, ['native']);
});

test('a client that pings before its first request is answered and served through the rewriting stream', async () => {
  kinds.length = 0;
  const r = await h2Version('localhost', true);
  assert.equal(r.status, '0');
  assert.equal(VersionResponse.decode(r.body).runtimeName, 'crio-ts');
  assert.deepEqual(kinds, ['rewrite']);
});

test('bytes that are no HTTP/2 preface close the connection without a handover', async () => {
  kinds.length = 0;
  const s = net.connect(socketPath);
  s.on('error', () => undefined);
  s.resume(); // read (and drop) the server's SETTINGS, so the close is seen
  s.write('PRI * HTTP/1.1\r\n\r\nxxxxxxxxxxxxxxxxxxxxx');
  await new Promise((resolve) => s.once('close', resolve));
  assert.deepEqual(kinds, []);
});
