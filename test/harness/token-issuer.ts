import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A small Docker token server for tests (the distribution "token" auth scheme) on 127.0.0.1:
 * GET /token?service&scope[&account] with optional Basic credentials answers a JWT signed with
 * an ES256 key whose self-signed certificate (made with `openssl`) is the registry's
 * `rootcertbundle`. It counts requests so tests can see token reuse, and can refuse anonymous
 * or wrong credentials. No top-level side effects; close() stops the server and removes files.
 */

/** Options for startTokenIssuer. */
export interface TokenIssuerOptions {
  /** Accepted Basic credentials; unset = anonymous pulls get tokens too. */
  users?: Record<string, string>;
  /** OAuth2 refresh tokens (identity tokens) accepted by POST /token, → account. */
  refreshTokens?: Record<string, string>;
  /** `expires_in` of issued tokens, seconds (default 300). */
  expiresInS?: number;
}

/** One token request as the issuer saw it (no secrets). */
export interface TokenRequest {
  account: string | undefined;
  scope: string;
  service: string;
}

/** A running token issuer. */
export interface TokenIssuer {
  /** `http://127.0.0.1:PORT/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the signing certificate (registry `rootcertbundle`). */
  certFile: string;
  /** Every request served (refused ones included). */
  requests: TokenRequest[];
  /** A token for `scope` strings such as `repository:x:pull,push`, minted without HTTP. */
  mint(scopes: string[], account?: string): string;
  /** The next `n` tokens served over HTTP are already expired, so the registry answers 401 to them. */
  spoilNext(n: number): void;
  close(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** libtrust's key ID: the first 240 bits of sha256(SPKI DER), base32, in 4-character groups. */
export function libtrustKeyId(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  const hash = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return (out.match(/.{4}/g) ?? []).join(':');
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const m = /^([a-z]+):(.+):([a-z,*]+)$/.exec(scope);
  return m ? { type: m[1] ?? '', name: m[2] ?? '', actions: (m[3] ?? '').split(',') } : undefined;
}

/** Writes a self-signed certificate for the key in keyFile (openssl req -x509). */
export async function selfSignedCert(keyFile: string, certFile: string, subject = '/CN=crio-ts-test-token-issuer'): Promise<void> {
  const args = ['req', '-new', '-x509', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', subject];
  const child = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`openssl missing (apt-get install openssl): ${e.message}`)));
    child.on('close', (c) => resolve(c ?? -1));
  });
  if (code !== 0) throw new Error(`openssl req failed (${code}): ${err}`);
}

/** Starts the issuer on a free port of 127.0.0.1. */
export async function startTokenIssuer(opts: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-token-'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await fs.writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  try {
    await selfSignedCert(keyFile, certFile);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  const key = createPrivateKey(await fs.readFile(keyFile));
  const kid = libtrustKeyId(createPublicKey(key));
  const service = 'crio-ts-test-registry';
  const issuer = 'crio-ts-test-issuer';
  const expiresIn = opts.expiresInS ?? 300;
  let spoil = 0;
  const requests: TokenRequest[] = [];

  const mint = (scopes: string[], account = '', expired = false): string => {
    const now = Math.floor(Date.now() / 1000) - (expired ? 2 * expiresIn : 0);
    const header = { typ: 'JWT', alg: 'ES256', kid };
    const claims = {
      iss: issuer,
      sub: account,
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access: scopes.map(parseScope).filter((a) => a !== undefined),
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  };

  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => serve(req, res, new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
      return;
    }
    serve(req, res, undefined);
  });
  const serve = (req: http.IncomingMessage, res: http.ServerResponse, form: URLSearchParams | undefined): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params = form ?? url.searchParams;
    const scope = params.getAll('scope').join(' ');
    let account: string | undefined;
    let ok = !opts.users;
    if (form) {
      // The OAuth2 refresh-token grant (Docker identity tokens).
      account = form.get('grant_type') === 'refresh_token' ? opts.refreshTokens?.[form.get('refresh_token') ?? ''] : undefined;
      ok = account !== undefined;
    }
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      account = decoded.slice(0, i);
      ok = opts.users ? opts.users[account] === decoded.slice(i + 1) : true;
    }
    requests.push({ account, scope, service: params.get('service') ?? '' });
    if (url.pathname !== '/token' || !ok) {
      res.writeHead(url.pathname !== '/token' ? 404 : 401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const token = mint(scope === '' ? [] : scope.split(' '), account ?? '', spoil > 0);
    if (spoil > 0) spoil--;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    mint: (scopes, account) => mint(scopes, account),
    spoilNext: (n) => {
      spoil = n;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
