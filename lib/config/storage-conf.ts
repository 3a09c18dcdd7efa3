/**
 * containers-storage.conf(5), read as containers/storage v1.43 reads it (types/options.go
 * ReloadConfigurationFile) so crio-ts and podman agree on one store: `[storage]` driver,
 * graphroot, runroot; `[storage.options]` and `[storage.options.overlay]` become driver option
 * strings "<driver>.<key>=<value>" (additionalimagestores → "<driver>.imagestore=<path>").
 * The file is CONTAINERS_STORAGE_CONF, else /etc/containers/storage.conf, else
 * /usr/share/containers/storage.conf; none is fine. Pure apart from reading the file.
 */
import { readFile } from 'node:fs/promises';

import { parse as parseToml } from '@iarna/toml';

import { errnoCode, InvalidArgumentError } from '../errors';

/** What storage.conf contributes to crio.conf's [crio] root/runroot/storage_driver/storage_option. */
export interface StorageConf {
  file: string;
  driver: string;
  graphroot: string;
  runroot: string;
  /** Driver options as c/storage formats them. */
  options: string[];
}

export const STORAGE_CONF_OVERRIDE = '/etc/containers/storage.conf';
export const STORAGE_CONF_DEFAULT = '/usr/share/containers/storage.conf';

type Table = Record<string, unknown>;

function table(v: unknown): Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Table) : {};
}

function str(t: Table, key: string): string {
  const v = t[key];
  return typeof v === 'string' ? v : '';
}

/** Option keys of [storage.options] / [storage.options.<driver>] that c/storage passes to the driver. */
const DRIVER_KEYS = ['mountopt', 'mount_program', 'size', 'inodes', 'skip_mount_home', 'ignore_chown_errors', 'force_mask'] as const;

/** Parses storage.conf text (`file` names it in errors). */
export function parseStorageConf(text: string, file: string): StorageConf {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new InvalidArgumentError(`${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const storage = table(doc.storage);
  let driver = process.env.STORAGE_DRIVER ?? str(storage, 'driver');
  if (driver === 'overlay2') driver = 'overlay';
  const options = table(storage.options);
  const out: string[] = [];
  const stores = options.additionalimagestores;
  if (Array.isArray(stores)) for (const s of stores) if (typeof s === 'string') out.push(`${driver}.imagestore=${s}`);
  // Keys directly under [storage.options] (the older spelling), then the driver's own table.
  for (const t of [options, table(options[driver === '' ? 'overlay' : driver])]) {
    for (const key of DRIVER_KEYS) {
      const v = t[key];
      if (typeof v === 'string' && v !== '') out.push(`${driver}.${key}=${v}`);
      else if (typeof v === 'number' || typeof v === 'boolean') out.push(`${driver}.${key}=${String(v)}`);
    }
  }
  if (process.env.STORAGE_OPTS !== undefined) out.splice(0, out.length, ...process.env.STORAGE_OPTS.split(',').filter((o) => o !== ''));
  return { file, driver, graphroot: str(storage, 'graphroot'), runroot: str(storage, 'runroot'), options: out };
}

/** The storage.conf in effect, or undefined when there is none. */
export async function loadStorageConf(env: NodeJS.ProcessEnv = process.env): Promise<StorageConf | undefined> {
  const explicit = env.CONTAINERS_STORAGE_CONF;
  for (const file of explicit ? [explicit] : [STORAGE_CONF_OVERRIDE, STORAGE_CONF_DEFAULT]) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw new InvalidArgumentError(`cannot read ${file}`, { cause: err });
    }
    return parseStorageConf(text, file);
  }
  return undefined;
}

/** CRI-O's removeDupStorageOpts: the first of equal options stays. */
export function dedupeStorageOptions(options: readonly string[]): string[] {
  return [...new Set(options)];
}
