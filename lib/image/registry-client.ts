import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { OpContext } from '../context';
import { FailedPreconditionError, NotFoundError, ResourceExhaustedError, UnavailableError } from '../errors';
import { sha256Digest } from './manifest';
import { MANIFEST_ACCEPT } from './media-types';
import type { PullSource, RegistryEndpoint } from './pull-sources';
import { basicAuthHeader, basicCredentials, credentialKey, parseChallenge, parseTokenResponse, TokenCache, type AuthChallenge, type AuthConfig, type BearerToken } from './registry-auth';
import { bodyStream, discardBody, httpRequest, readBody } from './registry-http';

/**
 * A client for the OCI distribution API (pull side): ping `/v2/` to pick https or — for
 * insecure registries — http, answer Basic or Bearer challenges (anonymous or with the CRI
 * credentials, tokens cached per registry+scope+credentials until expiry), fetch manifests
 * (≤ 4 MiB, digest-verified when asked by digest) and stream blobs.
 */

/** Manifests larger than this are refused (c/image's limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_REDIRECTS = 10;

/** A manifest as served, with the digest of its exact bytes. */
export interface FetchedManifest {
  bytes: Buffer;
  contentType: string | undefined;
  digest: string;
}

/** Options for RegistryClient. */
export interface RegistryClientOptions {
  /** Socket idle timeout per request. */
  timeoutMs?: number;
  userAgent?: string;
}

/** How a registry was reached at ping time. */
interface ResolvedEndpoint {
  base: URL;
  insecureTls: boolean;
  challenge: AuthChallenge | undefined;
}

/** Pull-side OCI distribution client; one per daemon (it caches pings and tokens). */
export class RegistryClient {
  private readonly pings = new Map<string, Promise<ResolvedEndpoint>>();
  private readonly tokens = new TokenCache();

  constructor(private readonly options: RegistryClientOptions = {}) {}

  /** Fetches a manifest or index by tag or digest. */
  async getManifest(src: PullSource, auth: AuthConfig | undefined, ctx: OpContext): Promise<FetchedManifest> {
    const byDigest = src.reference.startsWith('sha256:');
    const name = `${src.endpoint.host}/${src.repository}${byDigest ? '@' : ':'}${src.reference}`;
    const res = await this.send(src, `/v2/${src.repository}/manifests/${src.reference}`, { Accept: MANIFEST_ACCEPT.join(', ') }, auth, ctx);
    await this.checkStatus(res, src.endpoint.host, `manifest for ${name}`);
    const bytes = await readBody(res, src.endpoint.host, MAX_MANIFEST_BYTES, `manifest for ${name}`);
    const digest = sha256Digest(bytes);
    if (byDigest && digest !== src.reference) {
      throw new FailedPreconditionError(`manifest for ${name}: digest mismatch: expected ${src.reference}, got ${digest}`);
    }
    return { bytes, contentType: res.headers['content-type'], digest };
  }

  /** Opens a blob as a stream; the caller verifies size and digest while reading. */
  async getBlob(src: PullSource, digest: string, auth: AuthConfig | undefined, ctx: OpContext): Promise<Readable> {
    const res = await this.send(src, `/v2/${src.repository}/blobs/${digest}`, {}, auth, ctx);
    await this.checkStatus(res, src.endpoint.host, `blob ${digest} in ${src.endpoint.host}/${src.repository}`);
    return bodyStream(res, src.endpoint.host);
  }

  /** GET with auth, challenge retry and redirects. */
  private async send(src: PullSource, path: string, headers: Record<string, string>, auth: AuthConfig | undefined, ctx: OpContext): Promise<IncomingMessage> {
    const ep = await this.endpoint(src.endpoint, ctx);
    const scope = `repository:${src.repository}:pull`;
    let challenge = ep.challenge;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorization(ep, src.endpoint, challenge, scope, auth, ctx);
      const h: Record<string, string> = { ...headers, 'User-Agent': this.userAgent() };
      if (authorization) h.Authorization = authorization;
      let res: IncomingMessage;
      try {
        res = await this.follow(new URL(path, ep.base), h, ep, ctx);
      } catch (err) {
        // The registry may have moved (restarted on another scheme); ping again next time.
        if (err instanceof UnavailableError) this.pings.delete(pingKey(src.endpoint));
        throw err;
      }
      if (res.statusCode !== 401 || attempt > 0) return res;
      const fresh = parseChallenge(headerString(res.headers['www-authenticate']));
      if (!fresh) return res;
      discardBody(res);
      this.tokens.delete(tokenKey(src.endpoint.host, scope, auth));
      challenge = fresh;
    }
  }

  private async follow(url: URL, headers: Record<string, string>, ep: ResolvedEndpoint, ctx: OpContext): Promise<IncomingMessage> {
    let current = url;
    const h = { ...headers };
    for (let i = 0; i <= MAX_REDIRECTS; i++) {
      const sameHost = current.host === ep.base.host;
      const res = await httpRequest(current, { headers: h, insecureTls: sameHost && ep.insecureTls, signal: ctx.signal, timeoutMs: this.options.timeoutMs });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !location) return res;
      discardBody(res);
      current = new URL(location, current);
      // Blob redirects go to storage backends; registry credentials must not follow them.
      if (current.host !== ep.base.host) delete h.Authorization;
    }
    throw new UnavailableError(`registry ${ep.base.host} unavailable: more than ${MAX_REDIRECTS} redirects`);
  }

  /** Pings `/v2/` once per host: https first, then plain http for insecure registries (c/image). */
  private endpoint(ep: RegistryEndpoint, ctx: OpContext): Promise<ResolvedEndpoint> {
    const key = pingKey(ep);
    let p = this.pings.get(key);
    if (!p) {
      p = this.ping(ep, ctx);
      this.pings.set(key, p);
      p.catch(() => this.pings.delete(key));
    }
    return p;
  }

  private async ping(ep: RegistryEndpoint, ctx: OpContext): Promise<ResolvedEndpoint> {
    const host = apiHost(ep.host);
    const schemes = ep.insecure ? ['https', 'http'] : ['https'];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const base = new URL(`${scheme}://${host}`);
      try {
        const res = await httpRequest(new URL('/v2/', base), { headers: { 'User-Agent': this.userAgent() }, insecureTls: ep.insecure, signal: ctx.signal, timeoutMs: this.options.timeoutMs });
        discardBody(res);
        if (res.statusCode !== 200 && res.statusCode !== 401) {
          throw new UnavailableError(`registry ${ep.host} unavailable: ${scheme}://${host}/v2/ answered HTTP ${res.statusCode ?? 0}`);
        }
        ctx.log.debug('registry pinged', { registry: ep.host, scheme });
        return { base, insecureTls: ep.insecure, challenge: parseChallenge(headerString(res.headers['www-authenticate'])) };
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        lastErr = err;
      }
    }
    throw lastErr;
  }

  private async authorization(
    ep: ResolvedEndpoint,
    registry: RegistryEndpoint,
    challenge: AuthChallenge | undefined,
    scope: string,
    auth: AuthConfig | undefined,
    ctx: OpContext,
  ): Promise<string | undefined> {
    if (auth?.registryToken) return `Bearer ${auth.registryToken}`;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return basicAuthHeader(auth);
    const key = tokenKey(registry.host, scope, auth);
    const cached = this.tokens.get(key);
    if (cached) return `Bearer ${cached}`;
    const token = await this.fetchToken(ep, registry.host, challenge, scope, auth, ctx);
    this.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  /** The distribution token flow: GET realm?service&scope (Basic creds), or OAuth2 refresh for identity tokens. */
  private async fetchToken(ep: ResolvedEndpoint, host: string, challenge: AuthChallenge, scope: string, auth: AuthConfig | undefined, ctx: OpContext): Promise<BearerToken> {
    const realm = challenge.params.realm;
    if (!realm) throw new FailedPreconditionError(`registry ${host} sent a bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch (err) {
      throw new FailedPreconditionError(`registry ${host} sent an invalid token realm "${realm}"`, { cause: err });
    }
    const service = challenge.params.service ?? '';
    const headers: Record<string, string> = { 'User-Agent': this.userAgent() };
    let body: string | undefined;
    if (auth?.identityToken) {
      body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identityToken, service, scope, client_id: 'crio-ts' }).toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      if (service) url.searchParams.set('service', service);
      url.searchParams.set('scope', scope);
      const creds = basicCredentials(auth);
      if (creds) url.searchParams.set('account', creds.username);
      const basic = basicAuthHeader(auth);
      if (basic) headers.Authorization = basic;
    }
    const sameHost = url.host === ep.base.host;
    const res = await httpRequest(url, { method: body ? 'POST' : 'GET', headers, body, insecureTls: sameHost && ep.insecureTls, signal: ctx.signal, timeoutMs: this.options.timeoutMs });
    await this.checkStatus(res, url.host, `token for ${host} (${scope})`);
    const raw = await readBody(res, url.host, MAX_ERROR_BODY_BYTES, `token response from ${url.host}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const token = parseTokenResponse(parsed, Date.now());
    if (!token) throw new FailedPreconditionError(`token server ${url.host} returned no token for ${host}`);
    return token;
  }

  /** Maps a non-200 status to the typed error for `what`; 200 passes. */
  private async checkStatus(res: IncomingMessage, host: string, what: string): Promise<void> {
    const status = res.statusCode ?? 0;
    if (status === 200) return;
    const detail = await registryErrorDetail(res, host);
    const suffix = detail ? `: ${detail}` : '';
    if (status === 404) throw new NotFoundError(`${what} not found${suffix}`);
    if (status === 401 || status === 403) throw new FailedPreconditionError(`unauthorized: access to ${what} denied (HTTP ${status})${suffix}`);
    if (status === 429) throw new ResourceExhaustedError(`too many requests to ${host} for ${what}${suffix}`);
    if (status >= 500) throw new UnavailableError(`registry ${host} unavailable: HTTP ${status} for ${what}${suffix}`);
    throw new FailedPreconditionError(`registry ${host} answered HTTP ${status} for ${what}${suffix}`);
  }

  private userAgent(): string {
    return this.options.userAgent ?? 'crio-ts';
  }
}

/** The `code: message` of a distribution error body, if there is one. */
async function registryErrorDetail(res: IncomingMessage, host: string): Promise<string> {
  let body: Buffer;
  try {
    body = await readBody(res, host, MAX_ERROR_BODY_BYTES, 'error body');
  } catch {
    return '';
  }
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const e = doc.errors?.[0];
    if (e) return [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(': ');
  } catch {
    // Not a distribution error document; the status says enough.
  }
  return '';
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function pingKey(ep: RegistryEndpoint): string {
  return `${ep.host}|${ep.insecure ? 'insecure' : 'secure'}`;
}

function tokenKey(host: string, scope: string, auth: AuthConfig | undefined): string {
  return `${host}|${scope}|${credentialKey(auth)}`;
}

/** Docker Hub's API lives on registry-1.docker.io, not on the name's domain. */
function apiHost(host: string): string {
  return host === 'docker.io' ? 'registry-1.docker.io' : host;
}
