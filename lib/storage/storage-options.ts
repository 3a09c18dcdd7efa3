import { InvalidArgumentError } from '../errors';

/**
 * The overlay driver options crio-ts acts on, from crio.conf's storage_option merged with
 * storage.conf (lib/config/storage-conf.ts): "<driver>.mountopt=a,b" (also ".mountopt"),
 * "<driver>.imagestore=/path" (additional read-only image stores). What would make crio-ts
 * write a store podman cannot use, or mount differently from what the option promises, is
 * refused by name; options only about quotas or rootless storage are ignored with a warning.
 */

/** What the layer and container stores are built with. */
export interface StorageSettings {
  mountOptions: string[];
  additionalImageStores: string[];
  /** `skip_mount_home`: leave the driver home as it is (no private bind mount of itself). */
  skipMountHome: boolean;
  /**
   * `crio-ts.volatile_records=true`: CreateContainer's records go to volatile-containers.json and
   * volatile-layers.json without fsync, as c/storage ≥ 1.45 (podman ≥ 4.4) does. A crio-ts key
   * (crio.conf's storage_option only: c/storage's overlay driver refuses unknown keys), off by
   * default because older c/storage users of the store (Debian 12's podman 4.3) do not read them.
   */
  volatileRecords: boolean;
  /** Options accepted but without effect in crio-ts (the daemon logs them). */
  ignored: string[];
}

const REFUSED: Record<string, string> = {
  mount_program: 'crio-ts mounts with the kernel overlay driver only (fuse-overlayfs is not supported)',
  force_mask: 'force_mask needs a mount_program, which crio-ts does not support',
};
const IGNORED = new Set(['size', 'inodes', 'ignore_chown_errors', 'use_composefs', 'sync']);

/** Parses storage options ("overlay.mountopt=nodev", "overlay.imagestore=/ro"); InvalidArgumentError names what is refused. */
export function parseStorageOptions(options: readonly string[]): StorageSettings {
  const out: StorageSettings = { mountOptions: [], additionalImageStores: [], skipMountHome: false, volatileRecords: false, ignored: [] };
  for (const opt of options) {
    const eq = opt.indexOf('=');
    if (eq < 0) throw new InvalidArgumentError(`storage option ${JSON.stringify(opt)}: expected <driver>.<key>=<value>`);
    const fullKey = opt.slice(0, eq).toLowerCase();
    const value = opt.slice(eq + 1);
    const dot = fullKey.indexOf('.');
    const driver = dot < 0 ? '' : fullKey.slice(0, dot);
    const key = dot < 0 ? fullKey : fullKey.slice(dot + 1);
    if (driver === 'crio-ts') {
      if (key !== 'volatile_records' || (value !== 'true' && value !== 'false')) throw new InvalidArgumentError(`storage option ${JSON.stringify(opt)}: crio-ts knows only volatile_records=true|false`);
      out.volatileRecords = value === 'true';
      continue;
    }
    if (driver !== '' && driver !== 'overlay' && driver !== 'overlay2') continue; // another driver's option
    if (REFUSED[key]) throw new InvalidArgumentError(`storage option ${JSON.stringify(opt)} is not supported: ${REFUSED[key]}`);
    if (key === 'mountopt') out.mountOptions.push(...value.split(',').filter((o) => o !== ''));
    else if (key === 'imagestore' || key === 'additionalimagestore') out.additionalImageStores.push(...value.split(',').filter((p) => p !== ''));
    else if (key === 'skip_mount_home') out.skipMountHome = value === 'true';
    else if (IGNORED.has(key)) out.ignored.push(opt);
    else throw new InvalidArgumentError(`storage option ${JSON.stringify(opt)} is not known to the overlay driver`);
  }
  for (const o of out.mountOptions) {
    if (/^(lowerdir|upperdir|workdir)=/.test(o)) throw new InvalidArgumentError(`storage mount option ${JSON.stringify(o)} would override the layer directories`);
  }
  return out;
}
