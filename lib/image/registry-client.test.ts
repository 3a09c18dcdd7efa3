import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { backgroundContext } from '../context';
import { FailedPreconditionError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { nullLogger } from '../log';
import { sha256Digest } from './manifest';
import { MANIFEST_ACCEPT, OCI_MANIFEST } from './media-types';
import type { PullSource } from './pull-sources';
import type { AuthConfig } from './registry-auth';
import { RegistryClient } from './registry-client';

/*
 * The client against a scripted fake registry on 127.0.0.1 (plain HTTP, so every endpoint is
 * `insecure` and also exercises the https → http fallback).
 */

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

let server: http.Server;
let host = '';
let handler: Handler;
const seen: { url: string; method: string; authorization: string | undefined; accept: string | undefined; body: string }[] = [];
const ctx = backgroundContext(nullLogger());
const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }));

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization, accept: req.headers.accept, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen.length = 0;
});

function src(reference = 'v1', repository = 'r'): PullSource {
  return { endpoint: { host, insecure: true }, repository, reference, mirror: false };
}

function send(res: http.ServerResponse, status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, headers);
  res.end(body);
}

/** A registry behind a token server: `/token` hands out `tok-N`, checked on /v2/r/... */
function bearerRegistry(opts: { requireUser?: string; refuseToken?: boolean } = {}): { tokensIssued: () => number } {
  let issued = 0;
  handler = (req, res) => {
    const url = new URL(req.url ?? '', `http://${host}`);
    const challenge = { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="fake",scope="repository:r:pull"` };
    if (url.pathname === '/v2/') return send(res, 401, '', challenge);
    if (url.pathname === '/token') {
      const want = opts.requireUser ? 'Basic ' + Buffer.from(opts.requireUser).toString('base64') : undefined;
      if (want && req.headers.authorization !== want) return send(res, 401, '{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
      issued++;
      return send(res, 200, JSON.stringify({ token: `tok-${issued}`, expires_in: 300 }));
    }
    if (opts.refuseToken || !req.headers.authorization?.startsWith('Bearer tok-')) return send(res, 401, '', challenge);
    if (url.pathname === '/v2/r/manifests/v1') return send(res, 200, MANIFEST, { 'Content-Type': OCI_MANIFEST });
    return send(res, 404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  };
  return { tokensIssued: () => issued };
}

test('anonymous bearer flow: token fetched once per scope and reused', async () => {
  const reg = bearerRegistry();
  const client = new RegistryClient();
  const m = await client.getManifest(src(), undefined, ctx);
  assert.deepEqual(m.bytes, MANIFEST);
  assert.equal(m.digest, sha256Digest(MANIFEST));
  assert.equal(m.contentType, OCI_MANIFEST);
  await client.getManifest(src(), undefined, ctx);
  assert.equal(reg.tokensIssued(), 1);
  const tokenReq = seen.find((s) => s.url.startsWith('/token'));
  assert.equal(tokenReq?.url, '/token?service=fake&scope=repository%3Ar%3Apull');
  assert.equal(tokenReq?.authorization, undefined);
  assert.equal(seen.find((s) => s.url === '/v2/r/manifests/v1')?.accept, MANIFEST_ACCEPT.join(', '));
});

test('bearer flow with credentials sends Basic to the token server; other credentials get their own token', async () => {
  const reg = bearerRegistry({ requireUser: 'alice:pw' });
  const client = new RegistryClient();
  await assert.rejects(client.getManifest(src(), undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /unauthorized.*bad credentials/.test(e.message));
  await client.getManifest(src(), { username: 'alice', password: 'pw' }, ctx);
  assert.ok(seen.some((s) => s.url.includes('account=alice')));
  await assert.rejects(client.getManifest(src(), { username: 'alice', password: 'nope' }, ctx), FailedPreconditionError);
  assert.equal(reg.tokensIssued(), 1);
});

test('a registry that refuses a valid token is unauthorized', async () => {
  bearerRegistry({ refuseToken: true });
  await assert.rejects(new RegistryClient().getManifest(src(), undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /^unauthorized: access to manifest for .*\/r:v1 denied \(HTTP 401\)/.test(e.message));
});

test('identity token is exchanged with a POST; registry token is used as is', async () => {
  bearerRegistry();
  await new RegistryClient().getManifest(src(), { identityToken: 'refresh-me' }, ctx);
  const post = seen.find((s) => s.url === '/token');
  assert.equal(post?.method, 'POST');
  assert.match(post?.body ?? '', /grant_type=refresh_token&refresh_token=refresh-me&service=fake&scope=repository%3Ar%3Apull/);
  seen.length = 0;
  await new RegistryClient().getManifest(src(), { registryToken: 'tok-direct' }, ctx);
  assert.equal(seen.filter((s) => s.url.startsWith('/token')).length, 0);
  assert.equal(seen.find((s) => s.url === '/v2/r/manifests/v1')?.authorization, 'Bearer tok-direct');
});

test('basic challenge: credentials sent as Basic', async () => {
  const want = 'Basic ' + Buffer.from('bob:pw').toString('base64');
  handler = (req, res) => {
    if (req.headers.authorization !== want) return send(res, 401, '', { 'WWW-Authenticate': 'Basic realm="fake"' });
    send(res, 200, MANIFEST, { 'Content-Type': OCI_MANIFEST });
  };
  const auth: AuthConfig = { auth: Buffer.from('bob:pw').toString('base64') };
  assert.deepEqual((await new RegistryClient().getManifest(src(), auth, ctx)).bytes, MANIFEST);
  await assert.rejects(new RegistryClient().getManifest(src(), undefined, ctx), FailedPreconditionError);
});

const statusCases: { name: string; respond: Handler; reference?: string; check: (e: unknown) => boolean }[] = [
  {
    name: '404 is NotFoundError naming the reference',
    respond: (_q, res) => send(res, 404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'),
    check: (e) => e instanceof NotFoundError && e.message.includes(`${host}/r:v1`) && e.message.includes('MANIFEST_UNKNOWN'),
  },
  { name: '500 is UnavailableError', respond: (_q, res) => send(res, 500, 'boom'), check: (e) => e instanceof UnavailableError && e.message.includes(host) },
  { name: '429 is ResourceExhaustedError', respond: (_q, res) => send(res, 429, ''), check: (e) => e instanceof ResourceExhaustedError },
  {
    name: 'declared oversize manifest',
    respond: (_q, res) => send(res, 200, '', { 'Content-Length': String(5 * 1024 * 1024) }),
    check: (e) => e instanceof ResourceExhaustedError && e.message.includes('4194304'),
  },
  {
    name: 'streamed oversize manifest',
    respond: (_q, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    },
    check: (e) => e instanceof ResourceExhaustedError,
  },
  {
    name: 'digest mismatch when pulling by digest',
    reference: sha256Digest('something else'),
    respond: (_q, res) => send(res, 200, MANIFEST),
    check: (e) => e instanceof FailedPreconditionError && e.message.includes(`expected ${sha256Digest('something else')}, got ${sha256Digest(MANIFEST)}`),
  },
];

for (const c of statusCases) {
  test(`getManifest: ${c.name}`, async () => {
    handler = (req, res, body) => (req.url === '/v2/' ? send(res, 200) : c.respond(req, res, body));
    await assert.rejects(new RegistryClient().getManifest(src(c.reference), undefined, ctx), c.check);
  });
}

test('blob redirects to another host drop the Authorization header', async () => {
  const other = host.replace('127.0.0.1', 'localhost');
  handler = (req, res) => {
    if (req.url === '/v2/') return send(res, 401, '', { 'WWW-Authenticate': 'Basic realm="fake"' });
    if (req.url?.startsWith('/v2/r/blobs/')) return send(res, 307, '', { Location: `http://${other}/storage/blob` });
    if (req.url === '/storage/blob') return send(res, 200, 'blob-bytes');
    send(res, 404);
  };
  const body = await new RegistryClient().getBlob(src(), sha256Digest('blob-bytes'), { username: 'u', password: 'p' }, ctx);
  let text = '';
  for await (const c of body) text += (c as Buffer).toString();
  assert.equal(text, 'blob-bytes');
  assert.ok(seen.find((s) => s.url.startsWith('/v2/r/blobs/'))?.authorization?.startsWith('Basic '));
  assert.equal(seen.find((s) => s.url === '/storage/blob')?.authorization, undefined);
});

test('connection refused is UnavailableError naming the host', async () => {
  const dead = http.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const source: PullSource = { endpoint: { host: `127.0.0.1:${port}`, insecure: true }, repository: 'r', reference: 'v1', mirror: false };
  await assert.rejects(new RegistryClient().getManifest(source, undefined, ctx), (e: unknown) => e instanceof UnavailableError && e.message.includes(`127.0.0.1:${port}`));
});
