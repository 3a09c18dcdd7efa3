/**
 * Go `time.ParseDuration` syntax, because crio.conf durations ("0s", "1m30s", "500ms") are
 * written for CRI-O's Go parser and must mean the same thing here.
 */
import { InvalidArgumentError } from '../errors';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// µ and μ as escapes: a literal non-Latin-1 character makes V8 keep the daemon's whole bundle
// two bytes per character (scripts/bundle.js).
const COMPONENT = /^(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]+)/;

/** Parse a Go duration string into milliseconds (may be fractional for ns/us); throws InvalidArgumentError. */
export function parseDuration(s: string): number {
  const bad = (): InvalidArgumentError =>
    new InvalidArgumentError(`invalid duration "${s}": expected a Go duration such as "10s", "1m30s" or "500ms"`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  // Go accepts a bare "0" (with optional sign) and nothing else without a unit.
  if (rest === '0') return 0;
  if (rest === '') throw bad();
  let total = 0;
  while (rest !== '') {
    const m = COMPONENT.exec(rest);
    if (!m) throw bad();
    const [whole, intPart, fracPart, unit] = m;
    const perUnit = UNIT_MS[unit];
    if (perUnit === undefined || (intPart === '' && (fracPart ?? '') === '')) throw bad();
    total += Number(`${intPart || '0'}.${fracPart || '0'}`) * perUnit;
    rest = rest.slice(whole.length);
  }
  return sign * total;
}
