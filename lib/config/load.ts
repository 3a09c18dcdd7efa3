/**
 * Load the effective configuration exactly in CRI-O's order: built-in defaults ← the main
 * config file ← drop-in `*.conf` files in lexical order (last wins) ← command-line flags, then
 * validate and canonicalize. The only importer of the TOML parser.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { parse as parseToml } from '@iarna/toml';

import { errnoCode, InvalidArgumentError, NotFoundError } from '../errors';
import { DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE, defaultConfig, type Config, type FlagOverrides } from './config';
import { applyOverrides, mergeDocument, originOf, type Origins } from './merge';
import { normalizeConfig } from './normalize';
import { dedupeStorageOptions, loadStorageConf, type StorageConf } from './storage-conf';
import { validateConfig, type ValidateOptions } from './validate';

/** Where to read configuration from, and what the command line overrides. */
export interface LoadConfigOptions {
  /** Main file; default DEFAULT_CONFIG_FILE (may be missing). Given explicitly, it must exist; '' reads none. */
  configFile?: string;
  /** Drop-in directory; default DEFAULT_CONFIG_DIR. Missing is fine (as in CRI-O); '' reads none. */
  configDir?: string;
  /** Flag values, applied last. */
  overrides?: FlagOverrides;
  /** Host facts for validation (tests). */
  validate?: ValidateOptions;
  /** storage.conf in effect; default: loadStorageConf() (CONTAINERS_STORAGE_CONF or the system files). */
  storageConf?: StorageConf | null;
}

/** The effective configuration plus what the operator should hear about it. */
export interface LoadedConfig {
  config: Config;
  /** Unknown keys, deprecated or unsupported settings; log each at warn level. */
  warnings: string[];
  /** The files that were read, in merge order. */
  sources: string[];
}

/** Build, validate and canonicalize the effective Config; throws InvalidArgumentError/NotFoundError. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const config = defaultConfig();
  const origins: Origins = new Map();
  const warnings: string[] = [];
  const sources: string[] = [];
  const configFile = options.configFile ?? DEFAULT_CONFIG_FILE;
  const configDir = options.configDir ?? DEFAULT_CONFIG_DIR;
  config.config_file = configFile;
  config.config_dir = configDir;

  // As CRI-O: storage.conf supplies the defaults of root, runroot, storage_driver and
  // storage_option; a file setting root/runroot/storage_driver to "" keeps them, and each
  // file's storage_option is appended to what came before (duplicates dropped).
  const storage = options.storageConf === undefined ? await loadStorageConf() : (options.storageConf ?? undefined);
  if (storage) {
    if (storage.graphroot !== '') config.crio.root = storage.graphroot;
    if (storage.runroot !== '') config.crio.runroot = storage.runroot;
    if (storage.driver !== '') config.crio.storage_driver = storage.driver;
    config.crio.storage_option = storage.options;
    sources.push(storage.file);
  }
  const files: string[] = [];
  if (configFile !== '' && (await readable(configFile, options.configFile === undefined))) files.push(configFile);
  if (configDir !== '') files.push(...(await listDropIns(configDir)));
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((err: unknown) => {
      throw new InvalidArgumentError(`cannot read config file ${file}`, { cause: err });
    });
    const before = { root: config.crio.root, runroot: config.crio.runroot, driver: config.crio.storage_driver, options: config.crio.storage_option };
    const doc = parseTomlFile(file, text);
    mergeDocument(config, doc, { file, origins, warnings });
    const set = typeof doc.crio === 'object' && doc.crio !== null ? (doc.crio as Record<string, unknown>) : {};
    config.crio.storage_option = dedupeStorageOptions([...before.options, ...(Array.isArray(set.storage_option) ? config.crio.storage_option : [])]);
    if (config.crio.root === '') config.crio.root = before.root;
    if (config.crio.runroot === '') config.crio.runroot = before.runroot;
    if (config.crio.storage_driver === '') config.crio.storage_driver = before.driver;
    sources.push(file);
  }
  applyOverrides(config, options.overrides ?? {}, origins);
  validateConfig(config, (key) => originOf(origins, key), options.validate);
  warnings.push(...normalizeConfig(config));
  return { config, warnings, sources };
}

/** Whether file exists; a missing file is an error unless it is the implicit default. */
async function readable(file: string, optional: boolean): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw new InvalidArgumentError(`cannot read config file ${file}`, { cause: err });
    if (optional) return false;
    throw new NotFoundError(`config file ${file} does not exist`, { cause: err });
  }
}

/** The regular `*.conf` files in dir, in lexical (byte) order as CRI-O sorts them. */
async function listDropIns(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw new InvalidArgumentError(`cannot read config directory ${dir}`, { cause: err });
  }
  const files: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.conf')).sort(compareBytes)) {
    const file = join(dir, name);
    // stat (not lstat) so a symlinked drop-in counts, as it does for CRI-O.
    if ((await stat(file).catch(() => undefined))?.isFile()) files.push(file);
  }
  return files;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Parse TOML, turning the parser's error into one that names the file, line and column. */
function parseTomlFile(file: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text);
  } catch (err) {
    const pos = err as { line?: unknown; col?: unknown; message?: unknown };
    if (typeof pos.line === 'number' && typeof pos.col === 'number' && typeof pos.message === 'string') {
      const reason = pos.message.split(' at row ')[0];
      const where = `line ${pos.line + 1}, column ${pos.col + 1}`;
      throw new InvalidArgumentError(`${file}: TOML syntax error at ${where}: ${reason}`, { cause: err });
    }
    throw new InvalidArgumentError(`${file}: TOML syntax error`, { cause: err });
  }
}
