import { InvalidArgumentError } from './errors';
import { quote } from './quote';

/**
 * Kubernetes resource quantities as they appear in annotations ("10M", "512Ki", "1.5G", "64Mi"):
 * decimal SI suffixes (k, M, G, T, P, E) and binary ones (Ki, Mi, Gi, Ti, Pi, Ei).
 */
const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Parses a quantity into a whole number (rounded up, as Kubernetes' Value() does). */
export function parseQuantity(text: string, what: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(text.trim());
  const mult = m ? SUFFIX[m[2] ?? ''] : undefined;
  if (!m || mult === undefined) throw new InvalidArgumentError(`${what}: ${quote(text)} is not a quantity (e.g. 10M, 64Mi)`);
  return Math.ceil(Number(m[1]) * mult);
}
