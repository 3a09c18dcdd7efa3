import { createHash } from 'node:crypto';

/**
 * Registry credentials and the pieces of the distribution auth protocol that are pure:
 * `WWW-Authenticate` challenge parsing, Basic headers, token-response parsing and the cache
 * key for tokens. Secrets never leave these values except in an Authorization header.
 */

/** The CRI `AuthConfig` message (kept as a plain interface so lib/image stays free of gRPC). */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("username:password"). */
  auth?: string;
  serverAddress?: string;
  /** An OAuth2 refresh token, exchanged at the token realm for an access token. */
  identityToken?: string;
  /** A bearer token sent to the registry as is. */
  registryToken?: string;
}

/** A parsed `WWW-Authenticate` challenge. */
export interface AuthChallenge {
  scheme: 'basic' | 'bearer';
  /** Lower-cased parameter names: realm, service, scope, error. */
  params: Record<string, string>;
}

/** Username/password taken from `username`+`password` or the base64 `auth` field. */
export function basicCredentials(auth: AuthConfig | undefined): { username: string; password: string } | undefined {
  if (!auth) return undefined;
  if (auth.username) return { username: auth.username, password: auth.password ?? '' };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

/** `Basic <base64(user:pass)>`, or undefined without credentials. */
export function basicAuthHeader(auth: AuthConfig | undefined): string | undefined {
  const c = basicCredentials(auth);
  return c ? 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64') : undefined;
}

/** True when the config carries anything usable. */
export function hasCredentials(auth: AuthConfig | undefined): boolean {
  return basicCredentials(auth) !== undefined || !!auth?.identityToken || !!auth?.registryToken;
}

/**
 * A short, non-reversible tag for a credential set, so tokens obtained with one user's
 * credentials are never handed to a pull with other (or no) credentials.
 */
export function credentialKey(auth: AuthConfig | undefined): string {
  if (!hasCredentials(auth)) return 'anonymous';
  const c = basicCredentials(auth);
  const material = JSON.stringify([c?.username, c?.password, auth?.identityToken, auth?.registryToken]);
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}

/** Parses the first challenge of a `WWW-Authenticate` header (RFC 7235 auth-params). */
export function parseChallenge(header: string | undefined): AuthChallenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = (m[1] ?? '').toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    const key = (p[1] ?? '').toLowerCase();
    params[key] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

/** A token from a token server, with the time it stops being usable. */
export interface BearerToken {
  token: string;
  expiresAt: number;
  refreshToken?: string;
}

/** Tokens live at least this long (the distribution spec's default `expires_in`). */
const MIN_TOKEN_LIFETIME_S = 60;

/** Parses a token-server response (`token` or `access_token`, `expires_in`, `issued_at`). */
export function parseTokenResponse(body: unknown, now: number): BearerToken | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const token = typeof b.token === 'string' && b.token !== '' ? b.token : typeof b.access_token === 'string' ? b.access_token : '';
  if (token === '') return undefined;
  const expiresIn = typeof b.expires_in === 'number' && b.expires_in > MIN_TOKEN_LIFETIME_S ? b.expires_in : MIN_TOKEN_LIFETIME_S;
  const issued = typeof b.issued_at === 'string' ? Date.parse(b.issued_at) : NaN;
  // Trust the server's clock only when it is not in our future; renew a little early.
  const start = Number.isFinite(issued) && issued <= now ? issued : now;
  const out: BearerToken = { token, expiresAt: start + expiresIn * 1000 - 5000 };
  if (typeof b.refresh_token === 'string' && b.refresh_token !== '') out.refreshToken = b.refresh_token;
  return out;
}

/** Bearer tokens keyed by registry + scope + credential set, dropped once expired. */
export class TokenCache {
  private readonly tokens = new Map<string, BearerToken>();

  /** A still-valid token, if any. */
  get(key: string, now = Date.now()): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (t.expiresAt <= now) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /** Remembers a token. */
  set(key: string, token: BearerToken): void {
    this.tokens.set(key, token);
  }

  /** Forgets a token the registry refused. */
  delete(key: string): void {
    this.tokens.delete(key);
  }
}
