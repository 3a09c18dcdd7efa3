import { promises as fs } from 'node:fs';
import path from 'node:path';
import { asError, errnoCode } from '../errors';
import { WatchedSource } from '../file-watch';
import type { Logger } from '../log';
import { sortHooks } from './hooks-apply';
import { loadHookText, type CompiledHook } from './hooks-def';

/**
 * The OCI hooks of crio.conf `hooks_dir` (oci-hooks(5)), loaded at start and again when a file in
 * those directories changes. `*.json` files are definitions; a file of the same name in a later
 * directory masks an earlier one. A definition that cannot be used (bad JSON, unknown stage,
 * bad regexp, or an executable that does not exist) is refused with a log line and masks
 * nothing, as in containers/common.
 */

/** A refused hook file and why. */
export interface HookLoadError {
  file: string;
  message: string;
}

export interface LoadedHooks {
  /** In injection order. */
  hooks: CompiledHook[];
  errors: HookLoadError[];
}

async function readHook(name: string, file: string): Promise<CompiledHook> {
  const hook = loadHookText(name, file, await fs.readFile(file, 'utf8'));
  try {
    await fs.access(hook.def.hook.path);
  } catch (err) {
    throw new Error(`hook executable ${hook.def.hook.path} ${errnoCode(err) === 'ENOENT' ? 'does not exist' : `cannot be reached: ${asError(err).message}`}`);
  }
  return hook;
}

/** Reads every hook of `dirs`, later directories masking earlier ones by file name. */
export async function loadHooks(dirs: readonly string[]): Promise<LoadedHooks> {
  const byName = new Map<string, CompiledHook>();
  const errors: HookLoadError[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') errors.push({ file: dir, message: asError(err).message });
      continue;
    }
    for (const name of names.sort()) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(dir, name);
      try {
        byName.set(name, await readHook(name, file));
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' || code === 'EISDIR') continue; // removed meanwhile, or a directory
        errors.push({ file, message: asError(err).message });
      }
    }
  }
  return { hooks: sortHooks([...byName.values()]), errors };
}

/** The OCI hooks of `dirs`, kept current by watching them. */
export function watchHooks(dirs: readonly string[], log: Logger): Promise<WatchedSource<LoadedHooks>> {
  return WatchedSource.forDirs('OCI hooks', dirs, async (abs) => {
    const loaded = await loadHooks(abs);
    for (const e of loaded.errors) log.error('OCI hook refused', { file: e.file, err: e.message });
    log.info('OCI hooks loaded', { dirs: abs.join(', '), hooks: loaded.hooks.map((h) => h.file).join(', '), refused: loaded.errors.length });
    return loaded;
  }, log);
}
