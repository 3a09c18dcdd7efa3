import { constants } from 'node:os';
import path from 'node:path';
import { loadNativeAddon } from './native-addon';

/**
 * mount(2)/umount2(2) through native/mount.c, for the mounts whose options this module fully
 * understands; everything else is left to mount(8) (lib/storage/mount.ts decides). The addon
 * header says why: a mount(8) process costs ~6-8 ms of every container create.
 *
 * mount(8) turns the options it knows (`nodev`, `ro`, …) into MS_* flags and passes the rest to
 * the filesystem as data; libmount also has options of its own (`x-*`, `nofail`, `user`, SELinux
 * `context=` quoting). To give the kernel exactly what mount(8) would, only overlay mounts whose
 * options are all either a flag below or one of overlay's own data options take the system call.
 */

/** MS_* values of <linux/mount.h> for the options mount(8) turns into flags: [set, clear]. */
const FLAG_OPTIONS: ReadonlyMap<string, readonly [number, number]> = new Map([
  ['ro', [1, 0]],
  ['rw', [0, 1]],
  ['nosuid', [2, 0]],
  ['suid', [0, 2]],
  ['nodev', [4, 0]],
  ['dev', [0, 4]],
  ['noexec', [8, 0]],
  ['exec', [0, 8]],
  ['sync', [16, 0]],
  ['async', [0, 16]],
  ['dirsync', [128, 0]],
  ['nosymfollow', [256, 0]],
  ['noatime', [1024, 0]],
  ['atime', [0, 1024]],
  ['nodiratime', [2048, 0]],
  ['diratime', [0, 2048]],
  ['relatime', [1 << 21, 0]],
  ['norelatime', [0, 1 << 21]],
  ['strictatime', [1 << 24, 0]],
  ['lazytime', [1 << 25, 0]],
]);

/** Overlay's own options (Documentation/filesystems/overlayfs.rst), passed on as data. */
const OVERLAY_DATA_OPTIONS = new Set(['lowerdir', 'upperdir', 'workdir', 'metacopy', 'redirect_dir', 'index', 'xino', 'nfs_export', 'volatile', 'userxattr', 'uuid']);

/** mount(2) copies at most one page of data, NUL included. */
const PAGE_DATA_LIMIT = 4095;

/** The arguments of one mount(2) call. */
export interface MountCall {
  source: string;
  target: string;
  fstype: string;
  flags: number;
  data: string;
}

/** What lib/storage/mount.ts's MountSpec holds (kept structural: lib/ does not import lib/storage). */
export interface MountRequest {
  source: string;
  fstype: string;
  target: string;
  options: readonly string[];
  cwd?: string;
}

/**
 * The mount(2) call mount(8) would make for `req`, or undefined when it cannot be made here:
 * not overlay, an option this module does not know, or absolute lower paths (relative ones are
 * made absolute: the daemon does not chdir) longer than a page (mount(8) then runs in `cwd`).
 * Pure.
 */
export function overlayMountCall(req: MountRequest): MountCall | undefined {
  if (req.fstype !== 'overlay' || !path.isAbsolute(req.target)) return undefined;
  let flags = 0;
  const data: string[] = [];
  for (const opt of req.options) {
    const flag = FLAG_OPTIONS.get(opt);
    if (flag) {
      flags = (flags | flag[0]) & ~flag[1];
      continue;
    }
    const eq = opt.indexOf('=');
    const key = eq === -1 ? opt : opt.slice(0, eq);
    if (!OVERLAY_DATA_OPTIONS.has(key)) return undefined;
    if (key === 'lowerdir' || key === 'upperdir' || key === 'workdir') {
      const dirs = opt.slice(eq + 1).split(':');
      if (eq === -1 || dirs.some((d) => d === '' || (!path.isAbsolute(d) && req.cwd === undefined))) return undefined;
      data.push(`${key}=${dirs.map((d) => (path.isAbsolute(d) ? d : path.join(req.cwd as string, d))).join(':')}`);
      continue;
    }
    data.push(opt);
  }
  const joined = data.join(',');
  if (joined.length > PAGE_DATA_LIMIT) return undefined;
  return { source: req.source, target: req.target, fstype: req.fstype, flags, data: joined };
}

interface NativeMount {
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): Promise<void>;
  umount(target: string, flags: number): Promise<void>;
  isMountRoot(file: string): boolean | null;
}

let native: NativeMount | null | undefined;

/** The addon, loaded once; undefined when it is not built or CRIO_TS_MOUNT=exec asks for mount(8). */
function loadNative(): NativeMount | undefined {
  if (native === undefined) native = (process.env.CRIO_TS_MOUNT === 'exec' ? undefined : loadNativeAddon<NativeMount>('mount')) ?? null;
  return native ?? undefined;
}

/** Whether mount(2) is used (the addon is built and CRIO_TS_MOUNT=exec is not set). */
export function mountSyscallAvailable(): boolean {
  return loadNative() !== undefined;
}

/** A failed call's errno name (EINVAL, …) and message, from the addon's rejection. */
export class MountSyscallError extends Error {
  constructor(
    readonly syscall: string,
    readonly code: string,
    message: string,
  ) {
    super(`${syscall}: ${message} (${code})`);
    this.name = 'MountSyscallError';
  }
}

function named(err: unknown): MountSyscallError {
  const e = err as { errno?: number; syscall?: string; message?: string };
  const code = Object.entries(constants.errno).find(([, n]) => n === e.errno)?.[0] ?? `errno ${String(e.errno)}`;
  return new MountSyscallError(e.syscall ?? 'mount', code, e.message ?? 'failed');
}

/** Makes the call; rejects with MountSyscallError. Throws when the addon is missing (check mountSyscallAvailable). */
export async function mountSyscall(call: MountCall): Promise<void> {
  const n = loadNative();
  if (!n) throw new Error('the mount addon is not available');
  await n.mount(call.source, call.target, call.fstype, call.flags, call.data === '' ? null : call.data).catch((err: unknown) => {
    throw named(err);
  });
}

/** umount2(target, MNT_DETACH when `detach`); rejects with MountSyscallError. */
export async function umountSyscall(target: string, detach: boolean): Promise<void> {
  const n = loadNative();
  if (!n) throw new Error('the mount addon is not available');
  await n.umount(target, detach ? 2 : 0).catch((err: unknown) => {
    throw named(err);
  });
}

/**
 * Whether `file` is the root of a mount (statx's STATX_ATTR_MOUNT_ROOT), false when it does not
 * exist; undefined when that cannot be told here (no addon, an old kernel): ask mountinfo then.
 */
export function isMountRoot(file: string): boolean | undefined {
  return loadNative()?.isMountRoot(file) ?? undefined;
}
