import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as TOML from '@iarna/toml';
import { errnoCode, FailedPreconditionError, InvalidArgumentError } from '../errors';

/**
 * containers-registries.conf(5), version 2 (plus the deprecated v1 tables): which registries
 * short names search, and per-prefix rewrites, mirrors, `insecure` and `blocked`. Loading is
 * here; turning a reference into endpoints is in pull-sources.ts.
 */

/** How short names resolve; CRI-O overrides the file with `[crio.image] short_name_mode`. */
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';
/** Which references a mirror serves (`pull-from-mirror`). */
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

/** A `[[registry.mirror]]` table. */
export interface MirrorConf {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

/** A `[[registry]]` table after c/image's post-processing (prefix defaults to location). */
export interface RegistryConf {
  prefix: string;
  /** Empty only for a `*.domain` prefix, meaning "keep the reference's own host". */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorConf[];
}

/** The merged result of registries.conf and its drop-ins. */
export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  shortNameMode: ShortNameMode;
  registries: RegistryConf[];
  /** Short name (no tag) → fully-qualified repository. */
  aliases: Record<string, string>;
  /** The files that were read, for error messages. */
  files: string[];
}

/** Where c/image looks when no file is configured. */
export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';

/** One parsed file; `undefined` fields were not set and do not override earlier files. */
export interface ConfFragment {
  unqualifiedSearchRegistries?: string[];
  shortNameMode?: ShortNameMode;
  registries: RegistryConf[];
  aliases: Record<string, string>;
}

/** A configuration with nothing in it (no file present). */
export function emptyRegistriesConf(): RegistriesConf {
  return { unqualifiedSearchRegistries: [], shortNameMode: 'enforcing', registries: [], aliases: {}, files: [] };
}

/**
 * Loads `file` ('' → /etc/containers/registries.conf, which may be absent) and then every
 * `*.conf` in the drop-in directory (default: `registries.conf.d` beside the file) in name order.
 */
export async function loadRegistriesConf(file: string, dropInDir?: string): Promise<RegistriesConf> {
  const main = file === '' ? DEFAULT_REGISTRIES_CONF : file;
  const conf = emptyRegistriesConf();
  const text = await readIfExists(main);
  if (text === undefined && file !== '') {
    throw new FailedPreconditionError(`registries configuration ${main} does not exist`);
  }
  if (text !== undefined) mergeFragment(conf, parseRegistriesConf(text, main), main);
  const dir = dropInDir ?? path.join(path.dirname(main), 'registries.conf.d');
  for (const name of await listDropIns(dir)) {
    const dropIn = path.join(dir, name);
    const dropInText = await readIfExists(dropIn);
    if (dropInText !== undefined) mergeFragment(conf, parseRegistriesConf(dropInText, dropIn), dropIn);
  }
  return conf;
}

/** Where c/image records short-name aliases for root (never written by CRI-O, but read). */
export const DEFAULT_SHORT_NAME_ALIASES_FILE = '/var/cache/containers/short-name-aliases.conf';

/** The `[aliases]` of the short-name alias cache file; absent file = none. */
export async function loadShortNameAliasCache(file: string): Promise<Record<string, string>> {
  const text = await readIfExists(file);
  if (text === undefined) return {};
  const frag = parseRegistriesConf(text, file);
  return Object.fromEntries(Object.entries(frag.aliases).filter(([, v]) => v !== ''));
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function listDropIns(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).filter((n) => n.endsWith('.conf')).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

/** Later files win key by key; a `[[registry]]` replaces one with the same prefix (c/image). */
function mergeFragment(conf: RegistriesConf, frag: ConfFragment, file: string): void {
  conf.files.push(file);
  if (frag.unqualifiedSearchRegistries !== undefined) conf.unqualifiedSearchRegistries = frag.unqualifiedSearchRegistries;
  if (frag.shortNameMode !== undefined) conf.shortNameMode = frag.shortNameMode;
  for (const reg of frag.registries) {
    const i = conf.registries.findIndex((r) => r.prefix === reg.prefix);
    if (i === -1) conf.registries.push(reg);
    else conf.registries[i] = reg;
  }
  for (const [k, v] of Object.entries(frag.aliases)) {
    // An empty value erases an alias set by an earlier file.
    if (v === '') delete conf.aliases[k];
    else conf.aliases[k] = v;
  }
}

type TomlTable = TOML.JsonMap;

/** Parses one registries.conf file (pure). */
export function parseRegistriesConf(text: string, file: string): ConfFragment {
  let doc: TomlTable;
  try {
    doc = TOML.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`parsing ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const r = new TableReader(doc, file, '');
  const frag: ConfFragment = { registries: [], aliases: {} };
  frag.unqualifiedSearchRegistries = r.optStringArray('unqualified-search-registries');
  const mode = r.optString('short-name-mode');
  if (mode !== undefined) frag.shortNameMode = oneOf(mode, ['enforcing', 'permissive', 'disabled'] as const, file, 'short-name-mode');
  const aliases = r.optTable('aliases');
  if (aliases) {
    const ar = new TableReader(aliases, file, 'aliases.');
    for (const k of Object.keys(aliases)) frag.aliases[k] = ar.optString(k) ?? '';
  }
  for (const [i, t] of (r.optTableArray('registry') ?? []).entries()) {
    frag.registries.push(readRegistry(new TableReader(t, file, `registry[${i}].`)));
  }
  for (const reg of frag.registries) {
    if (frag.registries.filter((x) => x.prefix === reg.prefix).length > 1) {
      throw new InvalidArgumentError(`${file}: registry prefix "${reg.prefix}" is defined multiple times`);
    }
  }
  readV1(r, frag);
  return frag;
}

function readRegistry(r: TableReader): RegistryConf {
  const location = cleanLocation(r.optString('location') ?? '', r, 'location');
  let prefix = r.optString('prefix') ?? '';
  if (prefix === '') {
    if (location === '') throw r.error('', 'both location and prefix are unset');
    prefix = location;
  } else if (!prefix.startsWith('*.')) {
    prefix = cleanLocation(prefix, r, 'prefix');
  } else if (prefix.includes('/')) {
    throw r.error('prefix', `wildcard prefix "${prefix}" must be of the form *.example.com`);
  }
  if (location === '' && !prefix.startsWith('*.')) throw r.error('location', 'empty location');
  const mirrorByDigestOnly = r.optBool('mirror-by-digest-only') ?? false;
  const mirrors = (r.optTableArray('mirror') ?? []).map((t, i) => {
    const m = r.sub(t, `mirror[${i}].`);
    const pullFromMirror = oneOf(m.optString('pull-from-mirror') ?? 'all', ['all', 'digest-only', 'tag-only'] as const, r.file, 'pull-from-mirror');
    if (mirrorByDigestOnly && pullFromMirror !== 'all') {
      throw m.error('pull-from-mirror', 'cannot be combined with mirror-by-digest-only');
    }
    return { location: cleanLocation(m.optString('location') ?? '', m, 'location'), insecure: m.optBool('insecure') ?? false, pullFromMirror };
  });
  for (const [i, m] of mirrors.entries()) if (m.location === '') throw r.error(`mirror[${i}].location`, 'empty location');
  return { prefix, location, insecure: r.optBool('insecure') ?? false, blocked: r.optBool('blocked') ?? false, mirrorByDigestOnly, mirrors };
}

/** The deprecated v1 tables `[registries.search|insecure|block] registries = [...]`. */
function readV1(r: TableReader, frag: ConfFragment): void {
  const v1 = r.optTable('registries');
  if (!v1) return;
  const v1r = r.sub(v1, 'registries.');
  const list = (name: string): string[] => {
    const t = v1r.optTable(name);
    return t ? (v1r.sub(t, `${name}.`).optStringArray('registries') ?? []) : [];
  };
  const search = list('search');
  if (search.length > 0) {
    if (frag.unqualifiedSearchRegistries !== undefined) throw r.error('registries.search', 'mixes v1 and v2 formats');
    frag.unqualifiedSearchRegistries = search;
  }
  const upsert = (host: string): RegistryConf => {
    let reg = frag.registries.find((x) => x.prefix === host);
    if (!reg) {
      reg = { prefix: host, location: host, insecure: false, blocked: false, mirrorByDigestOnly: false, mirrors: [] };
      frag.registries.push(reg);
    }
    return reg;
  };
  for (const host of list('insecure')) upsert(host).insecure = true;
  for (const host of list('block')) upsert(host).blocked = true;
}

/** c/image refuses URL schemes and strips a trailing slash. */
function cleanLocation(loc: string, r: TableReader, key: string): string {
  if (/^[a-z]+:\/\//i.test(loc)) throw r.error(key, `"${loc}": URI schemes are not supported`);
  return loc.replace(/\/+$/, '');
}

function oneOf<T extends string>(v: string, allowed: readonly T[], file: string, key: string): T {
  const hit = allowed.find((a) => a === v);
  if (hit === undefined) throw new InvalidArgumentError(`${file}: ${key} = "${v}" is not one of ${allowed.join(', ')}`);
  return hit;
}

/** Typed access to a TOML table with errors that name the file and the key. */
class TableReader {
  constructor(
    private readonly t: TomlTable,
    readonly file: string,
    private readonly prefix: string,
  ) {}

  sub(t: TomlTable, prefix: string): TableReader {
    return new TableReader(t, this.file, this.prefix + prefix);
  }

  error(key: string, what: string): InvalidArgumentError {
    return new InvalidArgumentError(`${this.file}: ${this.prefix}${key}: ${what}`);
  }

  optString(key: string): string | undefined {
    const v = this.t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.error(key, 'want a string');
    return v;
  }

  optBool(key: string): boolean | undefined {
    const v = this.t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw this.error(key, 'want true or false');
    return v;
  }

  optStringArray(key: string): string[] | undefined {
    const v = this.t[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw this.error(key, 'want an array of strings');
    return v as string[];
  }

  optTable(key: string): TomlTable | undefined {
    const v = this.t[key];
    if (v === undefined) return undefined;
    if (!isTable(v)) throw this.error(key, 'want a table');
    return v;
  }

  optTableArray(key: string): TomlTable[] | undefined {
    const v = this.t[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every(isTable)) throw this.error(key, 'want an array of tables');
    return v as TomlTable[];
  }
}

function isTable(v: unknown): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
