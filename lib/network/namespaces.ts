import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, InvalidArgumentError, asError, errnoCode } from '../errors';
import { nullLogger, type Logger } from '../log';
import { runProgram, stderrTail } from '../process';
import { hasOwnFilesystem, readMountPointCounts } from '../mountinfo';
import { mountSyscall, mountSyscallAvailable, umountSyscall } from '../mount-syscall';
import type { IdMappings } from '../idmap';
import { makePodNamespaces } from './pod-ns-make';
import type { PodNsBackend } from './pod-ns-native';
import { faultPoint } from '../fault-points';
import { quote } from '../quote';

/**
 * Pinned pod namespaces, the way CRI-O's pinns does it: new net/ipc/uts namespaces are
 * bind-mounted onto files under `namespaces_dir` (`netns/`, `ipcns/`, `utsns/`) so they outlive
 * the process that created them, and every container of the pod joins them by path.
 *
 * The file name is the pod sandbox ID, not a fresh UUID as in CRI-O: the ID is already random
 * and unique per RunPodSandbox attempt, and a deterministic name lets start-up cleanup find the
 * namespaces of a sandbox that crashed before its record stored the paths.
 */

/** Paths of a pod's pinned namespace files; a missing key means the host namespace is used. */
export interface PodNamespaces {
  net?: string;
  ipc?: string;
  uts?: string;
  /** The pod's user namespace; when set, it owns the other three. */
  user?: string;
}

/** Input of createPodNamespaces. */
export interface CreatePodNamespacesOptions {
  /** crio.conf `namespaces_dir` (default /var/run). */
  namespacesDir: string;
  podSandboxId: string;
  net: boolean;
  ipc: boolean;
  uts: boolean;
  /** Set inside the new UTS namespace; ignored when `uts` is false. */
  hostname?: string;
  /** Bring `lo` up inside the new network namespace (instead of a CNI loopback plugin exec). */
  loopbackUp?: boolean;
  /**
   * Mount the pod's /dev/shm tmpfs with the namespaces (the IPC namespace's shared memory). The
   * caller owns the mount afterwards and unmounts it on stop.
   */
  shm?: { path: string; sizeBytes: number };
  /** Namespaced sysctls written inside the new namespaces (validated by resolvePodSysctls). */
  sysctls?: { path: string; value: string }[];
  /** A user namespace with these maps owning the others (hostUsers: false). */
  userns?: IdMappings;
  /** How they are made (pod-ns-make.ts; default: a thread when the addon loaded, else perl); tests run both. */
  backend?: PodNsBackend;
  signal?: AbortSignal;
  log?: Logger;
}

type Kind = keyof PodNamespaces;

const KINDS: readonly { kind: Kind; dir: string }[] = [
  { kind: 'net', dir: 'netns' },
  { kind: 'ipc', dir: 'ipcns' },
  { kind: 'uts', dir: 'utsns' },
  // Created only by the userns helper (util-linux 2.38's unshare cannot pin a mapped one).
  { kind: 'user', dir: 'userns' },
];

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// What sethostname(2) takes (64 bytes); like CRI-O, no RFC 1123 check (pods use e.g. "crictl_host"),
// but no whitespace or control characters, which would corrupt /etc/hostname and /etc/hosts, and
// no leading '-' (a hostname(1) option, should anyone run it on the node).
const HOSTNAME_RE = /^(?!-)[^\s\x00-\x1f\x7f]{1,64}$/;
const SPAWN_TIMEOUT_MS = 30_000;
// <linux/mount.h>
const MS_BIND = 4096;
const MS_SHARED = 1 << 20;

/** Refuses a hostname sethostname(2), /etc/hostname or /etc/hosts cannot take; `field` names it in the message. */
export function checkHostname(hostname: string, field = 'hostname'): void {
  if (!HOSTNAME_RE.test(hostname)) {
    throw new InvalidArgumentError(`${field} ${quote(hostname)} is not usable: at most 64 bytes, no whitespace or control characters, no leading "-"`);
  }
}

/** The namespace file paths a pod would get (pure; used for cleanup after a crash). */
export function podNamespacePaths(
  namespacesDir: string,
  podSandboxId: string,
  which: { net: boolean; ipc: boolean; uts: boolean; user?: boolean },
): PodNamespaces {
  const out: PodNamespaces = {};
  for (const k of KINDS) if (which[k.kind]) out[k.kind] = path.join(namespacesDir, k.dir, podSandboxId);
  return out;
}

/** Creates the pod's namespaces (pod-ns-make.ts: a thread of ours, else one exec); on failure nothing is left behind. */
export async function createPodNamespaces(opts: CreatePodNamespacesOptions): Promise<PodNamespaces> {
  const log = opts.log ?? nullLogger();
  if (!ID_RE.test(opts.podSandboxId)) {
    throw new InvalidArgumentError(`pod sandbox id ${quote(opts.podSandboxId)} is not usable as a file name`);
  }
  if (opts.uts && opts.hostname !== undefined && opts.hostname !== '') checkHostname(opts.hostname);
  const ns = podNamespacePaths(opts.namespacesDir, opts.podSandboxId, { ...opts, user: opts.userns !== undefined });
  if (Object.keys(ns).length === 0) return ns;
  for (const file of Object.values(ns)) {
    // The userns helper takes the files in a comma/equals list.
    if (/[,=|]/.test(file)) throw new InvalidArgumentError(`namespaces_dir path ${quote(file)} must not contain ",", "=" or "|"`);
  }
  try {
    await createPinFiles(ns);
    faultPoint('pod-ns:files-created');
    // A failure is reported after the fault point, as it was when one exec made the namespaces:
    // a crash here leaves pinned namespaces for start-up cleanup whatever the outcome.
    const made = await makePodNamespaces(ns, opts).then(
      (by) => ({ by }),
      (err: unknown) => ({ err }),
    );
    faultPoint('pod-ns:created');
    opts.signal?.throwIfAborted();
    if ('err' in made) throw made.err;
    log.debug('pod namespaces created', { podSandboxId: opts.podSandboxId, madeBy: made.by });
    return ns;
  } catch (err) {
    try {
      await removePodNamespaces(ns);
    } catch (cleanupErr) {
      log.warn('cleanup of pod namespaces failed', { podSandboxId: opts.podSandboxId, err: asError(cleanupErr).message });
    }
    throw err;
  }
}

/**
 * Creates the empty files the namespaces are pinned on, all at once (each is two thread-pool
 * round trips, and this is on the path to the CNI ADD). Exclusively: a file that exists was left
 * by a crashed earlier attempt with this ID (IDs are random, so that is rare); then everything
 * of that attempt is removed, pins included, and the files are made again. Checking for leftovers
 * first instead cost two stats per file on every pod.
 */
async function createPinFiles(ns: PodNamespaces): Promise<void> {
  const files = KINDS.map((k) => ns[k.kind]).filter((f): f is string => f !== undefined);
  const create = (file: string): Promise<void> =>
    ensureNamespaceDir(path.dirname(file))
      .then(() => fs.open(file, 'wx', 0o444))
      .then((h) => h.close());
  const made = await Promise.allSettled(files.map(create));
  const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed === undefined) return;
  if (errnoCode(failed.reason) !== 'EEXIST') throw failed.reason;
  await removePodNamespaces(ns);
  await Promise.all(files.map(create));
}

/**
 * Unmounts (lazily) and unlinks each namespace file; files already gone are fine. `alongside`:
 * other mounts of the pod with a filesystem of their own (its /dev/shm tmpfs), unmounted with
 * them (by the same umount when there is no mount addon: each spawn costs 5-15 ms).
 */
export async function removePodNamespaces(ns: PodNamespaces, alongside: readonly string[] = []): Promise<void> {
  const files = KINDS.map((k) => ns[k.kind]).filter((f): f is string => f !== undefined);
  if (files.length === 0 && alongside.length === 0) return;
  const stillThere = async (): Promise<string[]> => [...(await pinnedFiles(files)), ...(await pinnedFiles(alongside))];
  // Mounts can be stacked (a crash between two attempts); umount once per layer.
  let unmounted = false;
  for (let pass = 0; pass < 4; pass++) {
    const mounted = await stillThere();
    if (mounted.length === 0) break;
    unmounted = true;
    const failure = await detachAll(mounted);
    if (failure !== undefined && pass === 3) throw new InternalError(`cannot unmount namespace files ${mounted.join(', ')}: ${failure}`);
  }
  const stillMounted = await stillThere();
  if (stillMounted.length > 0) throw new InternalError(`namespace files still mounted: ${stillMounted.join(', ')}`);
  if (unmounted) faultPoint('pod-ns:unmounted');
  for (const f of files) {
    try {
      await fs.unlink(f);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw new InternalError(`cannot remove namespace file ${f}`, { cause: err });
    }
  }
}

/**
 * Names with a pinned namespace file under namespacesDir (for start-up cleanup). With the
 * default /var/run this includes `ip netns add` names too: only remove IDs you own.
 */
export async function listPodNamespaceIds(namespacesDir: string): Promise<string[]> {
  const ids = new Set<string>();
  for (const k of KINDS) {
    let names: string[];
    try {
      names = await fs.readdir(path.join(namespacesDir, k.dir));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    for (const n of names) if (ID_RE.test(n)) ids.add(n);
  }
  return [...ids].sort();
}

/** Undo ensureNamespaceDir for tests and uninstall: unmounts the self-bind of each kind dir. */
export async function unmountNamespaceDirs(namespacesDir: string): Promise<void> {
  const dirs = KINDS.map((k) => path.join(namespacesDir, k.dir));
  for (const d of dirs) dirSetup.delete(d);
  for (let pass = 0; pass < 4; pass++) {
    const mounted = await mountedFiles(dirs);
    if (mounted.length === 0) return;
    await detachAll(mounted);
  }
  const left = await mountedFiles(dirs);
  if (left.length > 0) throw new InternalError(`cannot unmount namespace directories ${left.join(', ')}`);
}

/**
 * Detaches the top mount of each target: umount2(MNT_DETACH) through the mount addon (no
 * process: a StopPodSandbox or a failed start paid a umount(8) exec here), else one
 * `umount --lazy` for all. Returns what failed, if anything; callers look at the mounts again.
 */
async function detachAll(targets: readonly string[]): Promise<string | undefined> {
  if (mountSyscallAvailable()) {
    const results = await Promise.allSettled(targets.map((t) => umountSyscall(t, true)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    return failed ? asError(failed.reason).message : undefined;
  }
  const r = await runProgram('umount', ['--lazy', ...targets], { timeoutMs: SPAWN_TIMEOUT_MS });
  return r.exitCode === 0 ? undefined : stderrTail(r);
}

/** The subset of paths that are mount points now (resolved through symlinks such as /var/run). */
async function mountedFiles(files: readonly string[]): Promise<string[]> {
  const existing: { file: string; real: string }[] = [];
  for (const file of files) {
    try {
      existing.push({ file, real: await fs.realpath(file) });
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  // Only read mountinfo (large on busy nodes) when there is something to look up.
  if (existing.length === 0) return [];
  const counts = await readMountPointCounts();
  return existing.filter((e) => (counts.get(e.real) ?? 0) > 0).map((e) => e.file);
}

/**
 * The namespace files that still have a namespace mounted on them: a pinned namespace is an nsfs
 * mount (stacked ones too), unpinned the file belongs to the directory's own filesystem.
 */
async function pinnedFiles(files: readonly string[]): Promise<string[]> {
  const pinned = await Promise.all(files.map((f) => hasOwnFilesystem(f)));
  return files.filter((_, i) => pinned[i]);
}

// One setup per directory per process; a failed setup is forgotten so the next call retries.
const dirSetup = new Map<string, Promise<void>>();

/**
 * Makes `dir` exist and be a shared mount point (a bind mount of itself when needed), as
 * `ip netns` does for /run/netns: unmounting a namespace file then propagates into mount
 * namespaces copied from ours (runc makes them slaves), so they do not keep the namespace alive.
 */
function ensureNamespaceDir(dir: string): Promise<void> {
  let p = dirSetup.get(dir);
  if (!p) {
    p = setUpNamespaceDir(dir);
    dirSetup.set(dir, p);
    p.catch(() => dirSetup.delete(dir));
  }
  return p;
}

async function setUpNamespaceDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const bound = (await mountedFiles([dir])).length > 0;
  // mount(2) through the mount addon where built: the first pod after a start paid up to six
  // mount(8) execs here (~5 ms each); the calls are the ones mount(8) makes.
  if (mountSyscallAvailable()) {
    const call = (flags: number, source: string, what: string): Promise<void> =>
      mountSyscall({ source, target: dir, fstype: '', flags, data: '' }).catch((err: unknown) => {
        throw new InternalError(`cannot ${what}: ${asError(err).message}`, { cause: err });
      });
    if (!bound) await call(MS_BIND, dir, `bind-mount namespace directory ${dir} onto itself`);
    await call(MS_SHARED, 'none', `make namespace directory ${dir} shared`);
    return;
  }
  if (!bound) {
    const bind = await runProgram('mount', ['--bind', dir, dir], { timeoutMs: SPAWN_TIMEOUT_MS });
    if (bind.exitCode !== 0) throw new InternalError(`cannot bind-mount namespace directory ${dir} onto itself: ${stderrTail(bind)}`);
  }
  const shared = await runProgram('mount', ['--make-shared', dir], { timeoutMs: SPAWN_TIMEOUT_MS });
  if (shared.exitCode !== 0) throw new InternalError(`cannot make namespace directory ${dir} shared: ${stderrTail(shared)}`);
}
