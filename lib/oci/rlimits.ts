import { InvalidArgumentError } from '../errors';
import type { SpecRlimit } from './spec-input';

/**
 * crio.conf `default_ulimits` ("nofile=1024:2048") → OCI rlimits. -1 means unlimited
 * (RLIM_INFINITY, 2^64-1), which a JS number cannot hold exactly: it stays -1 here and
 * serializeSpec writes the exact value into config.json.
 */

/** Marker for RLIM_INFINITY in SpecRlimit values (see serializeSpec). */
export const RLIM_INFINITY = -1;

/** Parses one `name=soft[:hard]` entry (crio.conf already validated the form). */
export function parseUlimit(entry: string): SpecRlimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(entry);
  if (!m) throw new InvalidArgumentError(`ulimit "${entry}" is not of the form name=soft:hard`);
  const name = m[1] ?? '';
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  const check = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < RLIM_INFINITY) throw new InvalidArgumentError(`ulimit "${entry}": ${n} is not a valid limit`);
    return n;
  };
  return { type: `RLIMIT_${name.toUpperCase()}`, soft: check(soft), hard: check(hard) };
}

/** All default ulimits; a later entry for the same name replaces an earlier one. */
export function parseUlimits(entries: readonly string[]): SpecRlimit[] {
  const byType = new Map<string, SpecRlimit>();
  for (const e of entries) {
    const r = parseUlimit(e);
    byType.set(r.type, r);
  }
  return [...byType.values()];
}
