import { InvalidArgumentError } from '../errors';

/**
 * Decoding parsed JSON/YAML the way Go's encoding/json fills a struct, which is how CDI specs
 * (sigs.k8s.io/yaml, strict) and OCI hook files (encoding/json) are read upstream: field names
 * match case-insensitively ("additionalGIDs" fills additionalGids), null means absent, numbers
 * must fit the Go type, and a strict decoder refuses unknown fields. Pure.
 */

/** Turns one field's raw value into T; `where` names the field for errors. */
export type Decoder<T> = (value: unknown, where: string) => T;

const fail = (where: string, expected: string, value: unknown): never => {
  throw new InvalidArgumentError(`${where}: expected ${expected}, got ${JSON.stringify(value)}`);
};

export const str: Decoder<string> = (v, where) => (typeof v === 'string' ? v : fail(where, 'a string', v));

export const bool: Decoder<boolean> = (v, where) => (typeof v === 'boolean' ? v : fail(where, 'true or false', v));

/** A whole number within [min, max] (Go int64, int, uint32). */
export function integer(min: number, max: number): Decoder<number> {
  return (v, where) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(where, `an integer from ${min} to ${max}`, v));
}

export const int64 = integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
export const uint32 = integer(0, 0xffffffff);

export function arrayOf<T>(item: Decoder<T>): Decoder<T[]> {
  return (v, where) => (Array.isArray(v) ? v.map((x, i) => item(x, `${where}[${i}]`)) : fail(where, 'a list', v));
}

export const strings = arrayOf(str);

export const stringMap: Decoder<Record<string, string>> = (v, where) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(where, 'a mapping of strings', v);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = str(x, `${where}.${k}`);
  return out;
};

/** Decoders for the fields of a struct, keyed by their JSON names. */
export type Fields<T> = { [K in keyof T]-?: Decoder<NonNullable<T[K]>> };

/**
 * Decodes an object into T. Absent and null fields stay undefined; `strict` refuses fields T does
 * not have (sigs.k8s.io/yaml UnmarshalStrict), otherwise they are ignored (encoding/json).
 */
export function struct<T extends object>(fields: Fields<T>, strict: boolean): Decoder<Partial<T>> {
  const byLower = new Map(Object.keys(fields).map((k) => [k.toLowerCase(), k as keyof T & string]));
  return (v, where) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(where, 'a mapping', v);
    const out: Partial<T> = {};
    const seen = new Set<string>();
    for (const [rawKey, raw] of Object.entries(v)) {
      const key = byLower.get(rawKey.toLowerCase());
      if (key === undefined) {
        if (strict) throw new InvalidArgumentError(`${where}: unknown field ${JSON.stringify(rawKey)}`);
        continue;
      }
      if (seen.has(key)) throw new InvalidArgumentError(`${where}: field ${JSON.stringify(key)} is given twice`);
      seen.add(key);
      if (raw === null || raw === undefined) continue;
      out[key] = fields[key](raw, `${where}.${key}`) as T[typeof key];
    }
    return out;
  };
}
