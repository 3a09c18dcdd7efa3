import { promises as fs } from 'node:fs';
import type { Config } from '../config/config';
import { asError, FailedPreconditionError, InvalidArgumentError } from '../errors';
import { parseReference } from '../image/reference';
import { watchCdiSpecs } from '../oci/cdi-cache';
import type { Logger } from '../log';
import { setupAppArmorAtStart } from '../security/apparmor-host';
import { parseSeccompProfileText } from '../security/seccomp-profile';
import type { ServerDeps } from './deps';
import { RuntimeHandlers } from './runtimes';

/**
 * SIGHUP: what CRI-O reloads (pkg/config/reload.go) — log_level and log_filter (applied by the
 * caller, which owns the logger), pause_image, pause_command, pause_image_auth_file,
 * pinned_images, seccomp_profile (and privileged_seccomp_profile), apparmor_profile,
 * registries.conf(.d), the [crio.runtime.runtimes.*] table with default_runtime, and
 * cdi_spec_dirs (the specs of the new directories are loaded and watched instead).
 * Unlike CRI-O, which applies key by key and stops at the first bad one, every check runs
 * before anything changes: a bad new file leaves the whole old configuration in force. Other
 * changed keys are named in a warning: they take effect at the next start.
 */

/** The [crio.runtime] keys a reload applies. */
const RUNTIME_KEYS = ['log_level', 'log_filter', 'seccomp_profile', 'privileged_seccomp_profile', 'apparmor_profile', 'default_runtime', 'runtimes', 'cdi_spec_dirs'] as const;
/** The [crio.image] keys a reload applies. */
const IMAGE_KEYS = ['pause_image', 'pause_command', 'pause_image_auth_file', 'pinned_images'] as const;

/** The running daemon's parts a reload touches. */
export interface ReloadTarget {
  deps: ServerDeps;
  runtimes: RuntimeHandlers;
  bundlesDir: string;
  log: Logger;
}

/** What a successful reload changed. */
export interface ReloadResult {
  runtimes: RuntimeHandlers;
  /** Dotted keys whose value changed and now apply. */
  applied: string[];
  /** Dotted keys that changed but need a restart. */
  needRestart: string[];
}

/** Checks `next`, then applies its reloadable keys to the live config; throws without changing anything when a check fails. */
export async function reloadConfig(target: ReloadTarget, next: Config): Promise<ReloadResult> {
  const { deps, log } = target;
  const live = deps.config;
  // Checks first: nothing below may change the running daemon until all of them passed.
  try {
    parseReference(next.image.pause_image);
  } catch (err) {
    throw new InvalidArgumentError(`crio.image.pause_image: ${asError(err).message}`, { cause: err });
  }
  if (next.image.pause_image_auth_file !== '') await mustExist(next.image.pause_image_auth_file, 'crio.image.pause_image_auth_file');
  await checkSeccompProfile(next.runtime.seccomp_profile, 'crio.runtime.seccomp_profile');
  for (const [name, h] of Object.entries(next.runtime.runtimes)) await checkSeccompProfile(h.seccomp_profile, `crio.runtime.runtimes.${name}.seccomp_profile`);
  if (deps.host.apparmor && next.runtime.apparmor_profile !== live.runtime.apparmor_profile) await setupAppArmorAtStart(next.runtime.apparmor_profile);
  const runtimes = await RuntimeHandlers.create(next, target.bundlesDir, log, target.runtimes);
  let cdi: Awaited<ReturnType<typeof watchCdiSpecs>> | undefined;
  try {
    // A spec that does not load is logged and left out (as at start), so this only fails on I/O.
    if (!same(live.runtime.cdi_spec_dirs, next.runtime.cdi_spec_dirs)) cdi = await watchCdiSpecs(next.runtime.cdi_spec_dirs, log);
    // Last of the fallible steps: it swaps registries.conf in by itself when it succeeds.
    await deps.images.reloadRegistries();
  } catch (err) {
    cdi?.close();
    runtimes.discard(target.runtimes);
    throw err;
  }
  runtimes.retireReplaced(target.runtimes);
  if (cdi) {
    const old = deps.cdi;
    deps.cdi = cdi;
    old.close();
  }

  const applied: string[] = [];
  for (const key of RUNTIME_KEYS) {
    if (same(live.runtime[key], next.runtime[key])) continue;
    (live.runtime as unknown as Record<string, unknown>)[key] = next.runtime[key];
    applied.push(`crio.runtime.${key}`);
  }
  for (const key of IMAGE_KEYS) {
    if (same(live.image[key], next.image[key])) continue;
    (live.image as unknown as Record<string, unknown>)[key] = next.image[key];
    applied.push(`crio.image.${key}`);
  }
  deps.metrics.defaultRuntime(live.runtime.default_runtime);
  for (const key of applied) log.info('set config', { key, value: valueOf(live, key) });
  return { runtimes, applied, needRestart: restartOnlyChanges(live, next) };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function valueOf(config: Config, dotted: string): unknown {
  const [, table, key] = dotted.split('.');
  const t = (config as unknown as Record<string, Record<string, unknown>>)[table ?? ''];
  return t?.[key ?? ''];
}

/** Changed keys a reload does not apply, as dotted names. */
function restartOnlyChanges(live: Config, next: Config): string[] {
  const out: string[] = [];
  const reloadable = new Set<string>([...RUNTIME_KEYS.map((k) => `runtime.${k}`), ...IMAGE_KEYS.map((k) => `image.${k}`)]);
  for (const table of ['crio', 'api', 'runtime', 'image', 'network', 'metrics', 'tracing', 'stats', 'nri'] as const) {
    const a = live[table] as unknown as Record<string, unknown>;
    const b = next[table] as unknown as Record<string, unknown>;
    for (const key of Object.keys(b)) {
      if (!reloadable.has(`${table}.${key}`) && !same(a[key], b[key])) out.push(table === 'crio' ? `crio.${key}` : `crio.${table}.${key}`);
    }
  }
  return out;
}

async function mustExist(file: string, key: string): Promise<void> {
  try {
    await fs.stat(file);
  } catch (err) {
    throw new FailedPreconditionError(`${key}: ${file}: ${asError(err).message}`, { cause: err });
  }
}

/** A configured profile that exists must parse (CRI-O refuses the reload); a missing one falls back at create time. */
async function checkSeccompProfile(file: string, key: string): Promise<void> {
  if (file === '') return;
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  try {
    parseSeccompProfileText(text, file);
  } catch (err) {
    throw new InvalidArgumentError(`${key}: ${asError(err).message}`, { cause: err });
  }
}
