import { createHash } from 'node:crypto';

/**
 * A stable digest of a request, so an identical retry can be told from a changed one. Object keys
 * are sorted first: Go's protobuf encoder writes map entries (labels, annotations) in random order,
 * so two identical kubelet requests need not decode to identically ordered objects.
 */

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

/** SHA-256 (hex) of the value's canonical JSON form. */
export function requestFingerprint(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)) ?? 'undefined')
    .digest('hex');
}
