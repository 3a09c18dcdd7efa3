import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BuiltImage, BuiltIndex } from './test-images';
import type { TokenIssuer } from './token-issuer';

/**
 * A real OCI registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a
 * free port, filesystem storage in a temp dir, optional htpasswd Basic auth. Images are pushed
 * through the distribution API like any client would. stop() kills only the process it started.
 */

/** Options for startRegistry. */
export interface TestRegistryOptions {
  /** Require Basic auth with this user (needs `htpasswd` from apache2-utils). */
  htpasswd?: { username: string; password: string };
  /** Require bearer tokens from this issuer (the distribution token scheme). */
  token?: TokenIssuer;
  registryBinary?: string;
}

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** The registry's storage root (for tampering with blobs). */
  storageDir: string;
  /** Uploads an image's blobs and its manifest under `repo:tag`. */
  push(repo: string, tag: string, image: BuiltImage): Promise<void>;
  /** Uploads every image of an index (by digest) and the index under `repo:tag`. */
  pushIndex(repo: string, tag: string, index: BuiltIndex): Promise<void>;
  /** The file holding a blob's bytes inside the registry's storage. */
  blobFile(digest: string): string;
  /** Uploads one blob (signature payloads, artifacts). */
  pushBlob(repo: string, digest: string, bytes: Buffer): Promise<void>;
  /** Puts raw manifest bytes under `repo:reference` with the given Content-Type. */
  pushManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<void>;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(url: URL, method: string, headers: Record<string, string>, body?: Buffer): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: body ? { ...headers, 'Content-Length': String(body.length) } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function htpasswdLine(username: string, password: string): Promise<string> {
  // Distribution only accepts bcrypt; cost 4 keeps tests fast.
  const child = spawn('htpasswd', ['-nbBC', '4', username, password], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? -1));
  });
  if (code !== 0) throw new Error(`htpasswd exited ${code} (apt-get install apache2-utils)`);
  return Buffer.concat(out).toString('utf8').trim() + '\n';
}

function configYaml(storage: string, port: number, htpasswdFile: string | undefined, token: TokenIssuer | undefined): string {
  let auth = htpasswdFile ? `auth:\n  htpasswd:\n    realm: crio-ts-test\n    path: ${htpasswdFile}\n` : '';
  if (token) {
    auth = `auth:\n  token:\n    realm: ${token.realm}\n    service: ${token.service}\n    issuer: ${token.issuer}\n    rootcertbundle: ${token.certFile}\n`;
  }
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    auth,
  ].join('\n');
}

/** Starts a registry and waits until `/v2/` answers. */
export async function startRegistry(opts: TestRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-registry-'));
  let child: ChildProcess | undefined;
  try {
    const storageDir = path.join(dir, 'storage');
    await fs.mkdir(storageDir);
    let htpasswdFile: string | undefined;
    if (opts.htpasswd) {
      htpasswdFile = path.join(dir, 'htpasswd');
      await fs.writeFile(htpasswdFile, await htpasswdLine(opts.htpasswd.username, opts.htpasswd.password));
    }
    const port = await freePort();
    const configFile = path.join(dir, 'config.yml');
    await fs.writeFile(configFile, configYaml(storageDir, port, htpasswdFile, opts.token));
    const proc = spawn(opts.registryBinary ?? '/usr/bin/docker-registry', ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      proc.on('error', (err) => reject(new Error(`cannot start docker-registry (apt-get install docker-registry): ${err.message}`)));
      proc.on('exit', (code, sig) => reject(new Error(`docker-registry exited early (${code ?? sig}): ${stderr}`)));
    });
    exited.catch(() => undefined);
    const host = `127.0.0.1:${port}`;
    await Promise.race([waitReady(host), exited]);
    const { htpasswd, token } = opts;
    const authFor = (repo: string): Record<string, string> => {
      if (token) return { Authorization: `Bearer ${token.mint([`repository:${repo}:pull,push`], 'harness')}` };
      if (htpasswd) return { Authorization: 'Basic ' + Buffer.from(`${htpasswd.username}:${htpasswd.password}`).toString('base64') };
      return {};
    };
    return makeHandle(host, storageDir, dir, proc, authFor);
  } catch (err) {
    child?.kill('SIGKILL');
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function waitReady(host: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    try {
      const r = await request(new URL(`http://${host}/v2/`), 'GET', {});
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry on ${host} did not answer within ${STARTUP_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function makeHandle(host: string, storageDir: string, dir: string, proc: ChildProcess, authFor: (repo: string) => Record<string, string>): TestRegistry {
  const base = `http://${host}`;
  const uploadBlob = async (repo: string, digest: string, bytes: Buffer): Promise<void> => {
    const auth = authFor(repo);
    const head = await request(new URL(`${base}/v2/${repo}/blobs/${digest}`), 'HEAD', auth);
    if (head.status === 200) return;
    const start = await request(new URL(`${base}/v2/${repo}/blobs/uploads/`), 'POST', auth);
    const location = start.headers.location;
    if (start.status !== 202 || !location) throw new Error(`starting upload of ${digest} to ${repo}: HTTP ${start.status} ${start.body.toString()}`);
    const url = new URL(location, base);
    url.searchParams.set('digest', digest);
    const put = await request(url, 'PUT', { ...auth, 'Content-Type': 'application/octet-stream' }, bytes);
    if (put.status !== 201) throw new Error(`uploading ${digest} to ${repo}: HTTP ${put.status} ${put.body.toString()}`);
  };
  const putManifest = async (repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<void> => {
    const auth = authFor(repo);
    const r = await request(new URL(`${base}/v2/${repo}/manifests/${reference}`), 'PUT', { ...auth, 'Content-Type': mediaType }, bytes);
    if (r.status !== 201) throw new Error(`pushing manifest ${repo}:${reference}: HTTP ${r.status} ${r.body.toString()}`);
  };
  const pushImage = async (repo: string, reference: string, image: BuiltImage): Promise<void> => {
    for (const l of image.layers) await uploadBlob(repo, l.digest, l.bytes);
    await uploadBlob(repo, image.configDigest, image.configBytes);
    await putManifest(repo, reference, image.manifestMediaType, image.manifestBytes);
  };
  let stopped = false;
  return {
    host,
    storageDir,
    push: (repo, tag, image) => pushImage(repo, tag, image),
    pushIndex: async (repo, tag, index) => {
      for (const img of index.images) await pushImage(repo, img.manifestDigest, img);
      await putManifest(repo, tag, index.mediaType, index.indexBytes);
    },
    pushBlob: (repo, digest, bytes) => uploadBlob(repo, digest, bytes),
    pushManifest: (repo, reference, mediaType, bytes) => putManifest(repo, reference, mediaType, bytes),
    blobFile: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return path.join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
