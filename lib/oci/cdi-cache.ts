import { promises as fs } from 'node:fs';
import path from 'node:path';
import { asError, errnoCode } from '../errors';
import { WatchedSource } from '../file-watch';
import type { Logger } from '../log';
import { buildCdiRegistry, type CdiLoadError, type CdiRegistry } from './cdi-registry';
import { decodeCdiSpec, type CdiSpec } from './cdi-spec';

/**
 * The CDI specs of crio.conf `cdi_spec_dirs` (default /etc/cdi, /var/run/cdi), loaded at start
 * and again whenever a file in those directories changes (a DRA driver writes its specs into
 * /var/run/cdi while the node runs), so CreateContainer only looks devices up in memory.
 * `*.json` and `*.yaml` files directly in each directory are specs; a file that fails to load
 * is logged and left out, as the reference library does, so one vendor's broken file does not
 * take the other vendors' devices away.
 */

/** Parses a spec file's text: JSON, or YAML with go-yaml's YAML 1.1 rules (so `fileMode: 0640` is octal). */
function parseSpecText(text: string, file: string): unknown {
  if (file.endsWith('.json')) return JSON.parse(text) as unknown;
  // Loaded only on nodes with YAML specs: ~0.5 MiB an idle daemon does not need.
  const yaml = require('js-yaml') as typeof import('js-yaml');
  return yaml.load(text, { schema: yaml.YAML11_SCHEMA });
}

async function readDir(dir: string, priority: number, specs: CdiSpec[], errors: CdiLoadError[]): Promise<void> {
  let names: string[];
  try {
    names = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => !e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') errors.push({ path: dir, message: asError(err).message });
    return;
  }
  for (const name of names.sort()) {
    const ext = path.extname(name);
    if (ext !== '.json' && ext !== '.yaml') continue;
    const file = path.join(dir, name);
    try {
      specs.push(decodeCdiSpec(parseSpecText(await fs.readFile(file, 'utf8'), file), file, priority));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue; // removed while we read
      if (errnoCode(err) === 'EISDIR') continue;
      errors.push({ path: file, message: asError(err).message });
    }
  }
}

/** Reads every spec of `dirs` (lowest priority first) into a registry. */
export async function loadCdiRegistry(dirs: readonly string[]): Promise<CdiRegistry> {
  const specs: CdiSpec[] = [];
  const errors: CdiLoadError[] = [];
  for (const [priority, dir] of dirs.entries()) await readDir(dir, priority, specs, errors);
  return buildCdiRegistry(dirs, specs, errors);
}

/** The CDI registry of `dirs`, kept current by watching them. */
export function watchCdiSpecs(dirs: readonly string[], log: Logger): Promise<WatchedSource<CdiRegistry>> {
  return WatchedSource.forDirs('CDI specs', dirs, async (abs) => {
    const reg = await loadCdiRegistry(abs);
    for (const e of reg.errors) log.warn('CDI spec refused', { file: e.path, err: e.message });
    for (const [name, paths] of reg.conflicts) log.warn('CDI device defined twice at the same priority; it cannot be used', { device: name, files: paths.join(', ') });
    log.info('CDI specs loaded', { dirs: abs.join(', '), devices: reg.devices.size, refused: reg.errors.length });
    return reg;
  }, log);
}
