/**
 * Merge one decoded crio.conf document, or the command-line overrides, into a Config. The
 * default values act as the schema: a key is known iff the table has it, and its TOML type
 * must match the type of the default. Later sources replace whole values (lists included),
 * except `[crio.runtime.runtimes.<name>]`, which merges per handler as in CRI-O.
 */
import { InvalidArgumentError } from '../errors';
import {
  defaultRuntimeHandler,
  SUB_TABLES,
  type Config,
  type FlagOverrides,
  type RuntimeHandler,
  type SubTable,
} from './config';

/** Dotted key (e.g. "crio.runtime.cgroup_manager") → the source that last set it. */
export type Origins = Map<string, string>;

/** What a merge needs besides the data: who is speaking, and where to record things. */
export interface MergeContext {
  /** The file being merged, used in every message. */
  file: string;
  origins: Origins;
  warnings: string[];
}

/** The source name recorded for values that came from flags. */
export const COMMAND_LINE = 'command line';

type Fields = Record<string, unknown>;

/** Config tables are plain records of TOML values; this is the one place that says so. */
function fieldsOf(table: object): Fields {
  return table as Fields;
}

/** Merge a parsed TOML document (from ctx.file) into config, warning about unknown keys. */
export function mergeDocument(config: Config, doc: Record<string, unknown>, ctx: MergeContext): void {
  for (const [key, value] of Object.entries(doc)) {
    if (key !== 'crio') {
      ctx.warnings.push(`${ctx.file}: unknown key "${key}" ignored (every crio.conf setting lives under [crio])`);
      continue;
    }
    for (const [k, v] of Object.entries(expectTable(value, 'crio', ctx))) {
      if (!isSubTable(k)) {
        mergeKey(config.crio, k, v, 'crio', ctx);
      } else if (k === 'runtime') {
        const { runtimes, ...rest } = expectTable(v, 'crio.runtime', ctx);
        mergeTable(config.runtime, rest, 'crio.runtime', ctx);
        if (runtimes !== undefined) {
          mergeRuntimes(config.runtime.runtimes, expectTable(runtimes, 'crio.runtime.runtimes', ctx), ctx);
        }
      } else {
        mergeTable(config[k], expectTable(v, `crio.${k}`, ctx), `crio.${k}`, ctx);
      }
    }
  }
}

/** Apply flag overrides on top of everything the files said. */
export function applyOverrides(config: Config, overrides: FlagOverrides, origins: Origins): void {
  for (const table of ['crio', 'api', 'runtime', 'image', 'network', 'metrics'] as const) {
    const prefix = table === 'crio' ? 'crio' : `crio.${table}`;
    const target = fieldsOf(config[table]);
    for (const [key, value] of Object.entries(overrides[table] ?? {})) {
      if (value === undefined) continue;
      target[key] = Array.isArray(value) ? [...value] : value;
      origins.set(`${prefix}.${key}`, COMMAND_LINE);
    }
  }
  if (overrides.registries_conf !== undefined) config.registries_conf = overrides.registries_conf;
}

/** The source that last set key, falling back to the table that introduced it (a new handler). */
export function originOf(origins: Origins, key: string): string | undefined {
  for (let k = key; ; k = k.slice(0, k.lastIndexOf('.'))) {
    const origin = origins.get(k);
    if (origin !== undefined) return origin;
    if (!k.includes('.')) return undefined;
  }
}

function isSubTable(key: string): key is SubTable {
  return (SUB_TABLES as readonly string[]).includes(key);
}

function mergeTable(target: object, table: Fields, prefix: string, ctx: MergeContext): void {
  for (const [key, value] of Object.entries(table)) mergeKey(target, key, value, prefix, ctx);
}

function mergeRuntimes(runtimes: Record<string, RuntimeHandler>, table: Fields, ctx: MergeContext): void {
  for (const [name, value] of Object.entries(table)) {
    const prefix = `crio.runtime.runtimes.${name}`;
    const handlerTable = expectTable(value, prefix, ctx);
    if (!Object.hasOwn(runtimes, name)) {
      // defineProperty, not assignment, so a handler called "__proto__" stays an ordinary entry.
      const handler = defaultRuntimeHandler(name);
      Object.defineProperty(runtimes, name, { value: handler, enumerable: true, writable: true, configurable: true });
      ctx.origins.set(prefix, ctx.file);
    }
    mergeTable(runtimes[name], handlerTable, prefix, ctx);
  }
}

function mergeKey(target: object, key: string, value: unknown, prefix: string, ctx: MergeContext): void {
  const fields = fieldsOf(target);
  const dotted = `${prefix}.${key}`;
  if (!Object.hasOwn(fields, key)) {
    ctx.warnings.push(`${ctx.file}: unknown key ${dotted} ignored`);
    return;
  }
  fields[key] = coerce(fields[key], value, dotted, ctx.file);
  ctx.origins.set(dotted, ctx.file);
}

/** Check value has the TOML type of the current (default) value; returns a fresh copy. */
function coerce(current: unknown, value: unknown, key: string, file: string): unknown {
  const fail = (expected: string): never => {
    throw new InvalidArgumentError(`${file}: ${key}: expected ${expected}, got ${show(value)}`);
  };
  if (Array.isArray(current)) {
    if (!Array.isArray(value) || !value.every((e) => typeof e === 'string')) fail('an array of strings');
    return [...(value as string[])];
  }
  switch (typeof current) {
    case 'string':
      return typeof value === 'string' ? value : fail('a string');
    case 'boolean':
      return typeof value === 'boolean' ? value : fail('true or false');
    case 'number':
      return typeof value === 'number' && Number.isSafeInteger(value) ? value : fail('an integer');
    default:
      return fail('a table');
  }
}

function expectTable(value: unknown, key: string, ctx: MergeContext): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    throw new InvalidArgumentError(`${ctx.file}: ${key}: expected a table, got ${show(value)}`);
  }
  return value as Fields;
}

function show(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? String(value);
}
