import { randomBytes } from 'node:crypto';
import { ResourceExhaustedError } from '../errors';

/**
 * Single-use tokens for streaming URLs, as the kubelet's streaming server keeps them: the Exec,
 * Attach or PortForward RPC stores its request under a random token, and the first HTTP request
 * that presents the token takes it out. Tokens expire after a TTL (one minute by default); the
 * number of outstanding tokens is capped so a client cannot grow the cache without bound.
 */

/** Options of a TokenCache; `now` is injectable so tests can expire tokens without waiting. */
export interface TokenCacheOptions {
  ttlMs?: number;
  maxInFlight?: number;
  now?: () => number;
}

/** The kubelet's CacheTTL. */
export const DEFAULT_TOKEN_TTL_MS = 60_000;
/** The kubelet's maxInFlight. */
export const DEFAULT_MAX_IN_FLIGHT = 1000;
const TOKEN_BYTES = 16;

/** A map from fresh random tokens to values, each retrievable once before it expires. */
export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();
  private readonly ttlMs: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;

  constructor(options: TokenCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.now = options.now ?? Date.now;
  }

  /** Stores `value` under a new URL-safe token; ResourceExhaustedError when too many are outstanding. */
  insert(value: T): string {
    this.evictExpired();
    if (this.entries.size >= this.maxInFlight) {
      throw new ResourceExhaustedError(`maximum number of in-flight streaming requests (${this.maxInFlight}) exceeded`);
    }
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    this.entries.set(token, { value, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /** Takes the value out; undefined for an unknown, already used or expired token. */
  consume(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    return this.now() < entry.expiresAt ? entry.value : undefined;
  }

  /** Outstanding (unexpired, unused) tokens. */
  get size(): number {
    this.evictExpired();
    return this.entries.size;
  }

  private evictExpired(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (now >= entry.expiresAt) this.entries.delete(token);
  }
}
