/**
 * Memory sizes as CRI-O parses them (docker/go-units RAMInBytes): "12MiB", "500KiB", "1g",
 * "1024". Every unit is binary (k = 1024) whether or not the "i" is written, as in CRI-O.
 */
import { InvalidArgumentError } from '../errors';

const SIZE = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i;

const UNIT_POWER: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5 };

/** Parse a memory size into bytes; throws InvalidArgumentError on anything else. */
export function parseSize(s: string): number {
  const m = SIZE.exec(s);
  if (!m) {
    throw new InvalidArgumentError(`invalid size "${s}": expected a size such as "12MiB", "500KiB" or "1024"`);
  }
  const power = m[2] === undefined ? 0 : UNIT_POWER[m[2].toLowerCase()];
  return Math.floor(Number(m[1]) * 1024 ** power);
}
