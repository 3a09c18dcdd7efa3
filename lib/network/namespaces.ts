import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, InvalidArgumentError, UnavailableError, asError, errnoCode } from '../errors';
import { nullLogger, type Logger } from '../log';
import { runProgram, stderrTail } from '../process';
import { hasOwnFilesystem, readMountPointCounts } from '../mountinfo';
import type { IdMappings } from '../idmap';
import { usernsPinnsArgs } from './userns-pinns';
import { podPinnsArgs } from './pod-pinns';
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
   * Mount the pod's /dev/shm tmpfs in the same spawn (the IPC namespace's shared memory). The
   * caller owns the mount afterwards and unmounts it on stop.
   */
  shm?: { path: string; sizeBytes: number };
  /** Namespaced sysctls written inside the new namespaces (validated by resolvePodSysctls). */
  sysctls?: { path: string; value: string }[];
  /** A user namespace with these maps owning the others (hostUsers: false). */
  userns?: IdMappings;
  signal?: AbortSignal;
  log?: Logger;
}

type Kind = keyof PodNamespaces;

const KINDS: readonly { kind: Kind; dir: string; flag: string }[] = [
  { kind: 'net', dir: 'netns', flag: '--net' },
  { kind: 'ipc', dir: 'ipcns', flag: '--ipc' },
  { kind: 'uts', dir: 'utsns', flag: '--uts' },
  // Created only by the userns helper (util-linux 2.38's unshare cannot pin a mapped one).
  { kind: 'user', dir: 'userns', flag: '--user' },
];

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// What sethostname(2) takes (64 bytes); like CRI-O, no RFC 1123 check (pods use e.g. "crictl_host"),
// but no whitespace or control characters, which would corrupt /etc/hostname and /etc/hosts, and
// no leading '-' (a hostname(1) option, should anyone run it on the node).
const HOSTNAME_RE = /^(?!-)[^\s\x00-\x1f\x7f]{1,64}$/;
const SPAWN_TIMEOUT_MS = 30_000;

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

/** Work done inside the new namespaces by the one spawn that creates them. */
export interface NamespaceSetup {
  hostname?: string;
  loopbackUp?: boolean;
  shm?: { path: string; sizeBytes: number };
  sysctls?: { path: string; value: string }[];
}

/** Quotes one word for /bin/sh. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The unshare(1) argv that creates and pins the namespaces and does the setup inside them
 * (pure). One spawn for all of it: from a Node daemon each spawn costs ~8 ms of pod start.
 */
export function unshareArgs(ns: PodNamespaces, setup: NamespaceSetup = {}): string[] {
  const args: string[] = [];
  for (const k of KINDS) {
    const file = ns[k.kind];
    if (file !== undefined && k.kind !== 'user') args.push(`${k.flag}=${file}`);
  }
  return [...args, ...setupCommand(ns, setup)];
}

/** The command run inside new namespaces for `setup` (pure); `true` when there is nothing to do. */
export function setupCommand(ns: PodNamespaces, setup: NamespaceSetup): string[] {
  const args: string[] = [];
  // Each step is an argv, optionally with its stdout redirected to a file (sysctl writes).
  const steps: { argv: string[]; to?: string }[] = [];
  const argvStep = (argv: string[]) => steps.push({ argv });
  // Through /proc rather than hostname(1), which refuses names CRI-O accepts ("crictl_host"). A pod
  // with a user namespace cannot write there: the userns helper calls sethostname(2) itself.
  if (ns.uts !== undefined && setup.hostname) steps.push({ argv: ['printf', '%s', setup.hostname], to: '/proc/sys/kernel/hostname' });
  if (ns.net !== undefined && setup.loopbackUp) argvStep(['ip', 'link', 'set', 'lo', 'up']);
  // /proc/sys shows the namespaces of the writing process: these land in the pod's.
  for (const s of setup.sysctls ?? []) steps.push({ argv: ['printf', '%s\\n', s.value], to: `/proc/sys/${s.path}` });
  if (setup.shm) {
    const opts = `rw,nosuid,nodev,noexec,mode=1777,size=${Math.floor(setup.shm.sizeBytes)}`;
    argvStep(['mount', '-i', '-t', 'tmpfs', '-o', opts, 'shm', setup.shm.path]);
  }
  const [first, ...rest] = steps;
  if (!first) args.push('true');
  else if (rest.length === 0 && first.to === undefined) args.push(...first.argv);
  else {
    const line = (st: { argv: string[]; to?: string }) => st.argv.map(shellQuote).join(' ') + (st.to === undefined ? '' : ` > ${shellQuote(st.to)}`);
    args.push('/bin/sh', '-ec', steps.map(line).join('\n'));
  }
  return args;
}

/** Creates the pod's namespaces with one spawn (pod-pinns.ts, else unshare(1)); on failure nothing is left behind. */
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
    // A crashed earlier attempt with this ID may have left files behind: they are ours.
    await removePodNamespaces(ns);
    for (const k of KINDS) {
      const file = ns[k.kind];
      if (file === undefined) continue;
      await ensureNamespaceDir(path.dirname(file));
      await fs.writeFile(file, '', { flag: 'wx', mode: 0o444 });
    }
    faultPoint('pod-ns:files-created');
    const pinns = opts.userns === undefined ? podPinnsArgs(ns, opts) : undefined;
    const [program, args] =
      opts.userns !== undefined ? ['perl', usernsArgs(ns, opts.userns, opts)] : pinns !== undefined ? ['perl', pinns] : ['unshare', unshareArgs(ns, opts)];
    let result;
    try {
      result = await runProgram(program, args, { signal: opts.signal, timeoutMs: SPAWN_TIMEOUT_MS });
    } catch (err) {
      throw new UnavailableError(`cannot run ${program} to create namespaces of pod ${opts.podSandboxId}`, { cause: err });
    }
    faultPoint('pod-ns:created');
    opts.signal?.throwIfAborted();
    if (result.exitCode !== 0) {
      throw new InternalError(
        `${program} creating the namespaces of pod ${opts.podSandboxId} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}): ${stderrTail(result)}`,
      );
    }
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
 * The userns helper's argv: the same setup as unshareArgs, but /dev/shm is mounted by the
 * helper from the host side (a mount from inside the pod's user namespace is not allowed in
 * the host's mount namespace), owned by the pod's root so that it can write there.
 */
function usernsArgs(ns: PodNamespaces, mappings: IdMappings, setup: NamespaceSetup): string[] {
  const root = { uid: mappings.uids.find((m) => m.containerId === 0)?.hostId ?? 0, gid: mappings.gids.find((m) => m.containerId === 0)?.hostId ?? 0 };
  const shm = setup.shm
    ? { path: setup.shm.path, options: `mode=1777,size=${Math.floor(setup.shm.sizeBytes)},uid=${root.uid},gid=${root.gid}` }
    : undefined;
  const command = setupCommand(ns, { ...setup, shm: undefined, hostname: undefined });
  return usernsPinnsArgs({
    mappings,
    userFile: ns.user ?? '',
    files: { net: ns.net, ipc: ns.ipc, uts: ns.uts },
    shm,
    hostname: ns.uts !== undefined ? setup.hostname : undefined,
    command: command.length === 1 && command[0] === 'true' ? [] : command,
  });
}

/**
 * Unmounts (lazily) and unlinks each namespace file; files already gone are fine. `alongside`:
 * other mounts of the pod with a filesystem of their own (its /dev/shm tmpfs), unmounted by the
 * same umount, since each spawn blocks the daemon for 5-15 ms.
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
    const r = await runProgram('umount', ['--lazy', ...mounted], { timeoutMs: SPAWN_TIMEOUT_MS });
    if (r.exitCode !== 0 && pass === 3) {
      throw new InternalError(`cannot unmount namespace files ${mounted.join(', ')}: ${stderrTail(r)}`);
    }
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
    await runProgram('umount', ['--lazy', ...mounted], { timeoutMs: SPAWN_TIMEOUT_MS });
  }
  const left = await mountedFiles(dirs);
  if (left.length > 0) throw new InternalError(`cannot unmount namespace directories ${left.join(', ')}`);
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
  if ((await mountedFiles([dir])).length === 0) {
    const bind = await runProgram('mount', ['--bind', dir, dir], { timeoutMs: SPAWN_TIMEOUT_MS });
    if (bind.exitCode !== 0) throw new InternalError(`cannot bind-mount namespace directory ${dir} onto itself: ${stderrTail(bind)}`);
  }
  const shared = await runProgram('mount', ['--make-shared', dir], { timeoutMs: SPAWN_TIMEOUT_MS });
  if (shared.exitCode !== 0) throw new InternalError(`cannot make namespace directory ${dir} shared: ${stderrTail(shared)}`);
}
