import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, errnoCode } from '../errors';
import { runProgram, stderrTail } from '../process';
import { MountSyscallError, isMountRoot, mountSyscall, mountSyscallAvailable, overlayMountCall, umountSyscall } from '../mount-syscall';
import { parseMountInfo } from '../mountinfo';

/**
 * The only module that mounts and unmounts. Everything else builds MountSpec values
 * (overlay.ts) and hands them here, as containerd's snapshotters return mounts as data.
 * Overlay mounts and all unmounts are system calls (lib/mount-syscall.ts: ~6-8 ms less than a
 * mount(8) process per create and per remove); mount(8)/umount(8) remain for what that module
 * does not take (other filesystems, options only libmount knows, lowers too long as absolute
 * paths) and when the addon is missing.
 */

/** A mount described as data: what `mount -t <fstype> <source> -o <options> <target>` needs. */
export interface MountSpec {
  source: string;
  fstype: string;
  target: string;
  options: string[];
  /** Directory mount(8) runs in, so relative paths inside `options` resolve (overlay `l/<short>`). */
  cwd?: string;
}

/** Options for unmount. */
export interface UnmountOptions {
  /** MNT_DETACH (`umount -l`): detach now, let the kernel finish when the last user goes. */
  detach?: boolean;
}

const MOUNT_TIMEOUT_MS = 60_000;
const MOUNTINFO = '/proc/self/mountinfo';

/** Performs the mount; InternalError carrying mount's stderr on failure. */
export async function mount(spec: MountSpec): Promise<void> {
  const call = mountSyscallAvailable() ? overlayMountCall(spec) : undefined;
  if (call) {
    try {
      await mountSyscall(call);
      return;
    } catch (err) {
      const why = err instanceof MountSyscallError ? err.message : String(err);
      throw new InternalError(`mount ${spec.fstype} on ${spec.target} failed: ${why}`, { cause: err });
    }
  }
  // -i: never hand over to a /sbin/mount.<type> helper; what runs must be exactly this.
  const args = ['-i', '-t', spec.fstype, spec.source];
  if (spec.options.length > 0) args.push('-o', spec.options.join(','));
  args.push(spec.target);
  const res = await runProgram('mount', args, { cwd: spec.cwd, timeoutMs: MOUNT_TIMEOUT_MS });
  if (res.exitCode !== 0) {
    throw new InternalError(`mount ${spec.fstype} on ${spec.target} failed (exit ${res.exitCode}): ${stderrTail(res)}`);
  }
}

/** Unmounts `target`; a target that is not mounted (or does not exist) is fine. */
export async function unmount(target: string, options: UnmountOptions = {}): Promise<void> {
  if (mountSyscallAvailable()) {
    try {
      await umountSyscall(target, options.detach === true);
      return;
    } catch (err) {
      // EINVAL: not a mount point; ENOENT: gone. The mount table is the truth, as below.
      if (!(await isMounted(target))) return;
      const why = err instanceof MountSyscallError ? err.message : String(err);
      throw new InternalError(`umount ${target} failed: ${why}`, { cause: err });
    }
  }
  const args = options.detach ? ['-l', target] : [target];
  const res = await runProgram('umount', args, { timeoutMs: MOUNT_TIMEOUT_MS });
  if (res.exitCode === 0) return;
  // umount's wording for "not mounted" varies by version; the mount table is the truth.
  if (!(await isMounted(target))) return;
  throw new InternalError(`umount ${target} failed (exit ${res.exitCode}): ${stderrTail(res)}`);
}

/** True when something is mounted exactly at `target`. */
export async function isMounted(target: string): Promise<boolean> {
  const canonical = await canonicalPath(target);
  if (canonical === undefined) return false;
  const mounts = parseMountInfo(await fs.readFile(MOUNTINFO, 'utf8'));
  return mounts.some((m) => m.mountPoint === canonical);
}

/**
 * Mount points at or below `prefix`, deepest first (the order to unmount them in). A point
 * mounted over several times appears once per mount, so unmounting each entry clears it.
 */
export async function listMountsUnder(prefix: string): Promise<string[]> {
  const canonical = await canonicalPath(prefix);
  if (canonical === undefined) return [];
  const under = canonical === '/' ? '/' : canonical + '/';
  const mounts = parseMountInfo(await fs.readFile(MOUNTINFO, 'utf8'));
  const points = mounts.map((m) => m.mountPoint).filter((p) => p === canonical || p.startsWith(under));
  return points.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}

/** mountinfo lists resolved paths, so compare against the realpath; undefined if it is gone. */
async function canonicalPath(p: string): Promise<string | undefined> {
  try {
    return await fs.realpath(path.resolve(p));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Makes `dir` a private mount point (bind-mounting it onto itself first when it is none), as
 * containers/storage's overlay driver does with its home: container rootfs mounts below it then
 * never propagate into other mount namespaces, and another process of the store (podman) that
 * does the same later finds it mounted and does not shadow the mounts already below it.
 */
export async function ensurePrivateMount(dir: string): Promise<void> {
  // A mount point already (ours from before a restart, or podman's): it was made private with it.
  // statx answers without reading mountinfo (this runs before every container mount).
  if (isMountRoot(dir) ?? (await isMounted(dir))) return;
  const bind = await runProgram('mount', ['-i', '--bind', dir, dir], { timeoutMs: MOUNT_TIMEOUT_MS });
  if (bind.exitCode !== 0) throw new InternalError(`bind-mounting ${dir} on itself failed (exit ${bind.exitCode}): ${stderrTail(bind)}`);
  const priv = await runProgram('mount', ['-i', '--make-private', dir], { timeoutMs: MOUNT_TIMEOUT_MS });
  if (priv.exitCode !== 0) throw new InternalError(`making ${dir} a private mount failed (exit ${priv.exitCode}): ${stderrTail(priv)}`);
}
