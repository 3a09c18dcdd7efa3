import { InternalError, UnavailableError, asError } from '../errors';
import type { IdMappings } from '../idmap';
import { runProgram, stderrTail } from '../process';
import type { PodNamespaces } from './namespaces';
import { createPodNsOnThread, podNsBackend, podNsSpec, type PodNsBackend } from './pod-ns-native';
import { podPinnsArgs } from './pod-pinns';
import { usernsPinnsArgs } from './userns-pinns';

/**
 * How a pod's namespaces are made once their files exist (namespaces.ts createPodNamespaces
 * owns the files, the fault points and the cleanup). In order of preference:
 *   - a thread of the daemon (native/pod-ns.c through pod-ns-native.ts): no exec at all;
 *   - one perl process (pod-pinns.ts): the addon is missing, or CRIO_TS_PODNS=exec;
 *   - unshare(1) and a shell inside (unshareArgs): no perl system call numbers for this arch;
 *   - the userns helper (userns-pinns.ts) whenever the pod has a user namespace: a user
 *     namespace cannot be unshared by one thread of a multi-threaded process.
 */

const SPAWN_TIMEOUT_MS = 30_000;

/** What makePodNamespaces needs beyond the files. */
export interface MakeOptions extends NamespaceSetup {
  podSandboxId: string;
  userns?: IdMappings;
  /** Which way (default: podNsBackend()); tests run both. */
  backend?: PodNsBackend;
  signal?: AbortSignal;
}

/** Which way makePodNamespaces went (logged: an operator comparing pod start times needs it). */
export type MadeBy = 'thread' | 'perl' | 'unshare' | 'userns-helper';

/** Creates, pins and sets up the namespaces `ns` names (files already created); throws naming the failed step. */
export async function makePodNamespaces(ns: PodNamespaces, opts: MakeOptions): Promise<MadeBy> {
  const spec = opts.userns === undefined && (opts.backend ?? podNsBackend()) === 'thread' ? podNsSpec(ns, opts) : undefined;
  if (spec) {
    try {
      await createPodNsOnThread(spec);
    } catch (err) {
      throw new InternalError(`creating the namespaces of pod ${opts.podSandboxId} failed: ${asError(err).message}`, { cause: err });
    }
    return 'thread';
  }
  const pinns = opts.userns === undefined ? podPinnsArgs(ns, opts) : undefined;
  const [program, args] =
    opts.userns !== undefined ? ['perl', usernsArgs(ns, opts.userns, opts)] : pinns !== undefined ? ['perl', pinns] : ['unshare', unshareArgs(ns, opts)];
  let result;
  try {
    result = await runProgram(program, args, { signal: opts.signal, timeoutMs: SPAWN_TIMEOUT_MS });
  } catch (err) {
    throw new UnavailableError(`cannot run ${program} to create namespaces of pod ${opts.podSandboxId}`, { cause: err });
  }
  if (result.exitCode !== 0) {
    throw new InternalError(
      `${program} creating the namespaces of pod ${opts.podSandboxId} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}): ${stderrTail(result)}`,
    );
  }
  return opts.userns !== undefined ? 'userns-helper' : pinns !== undefined ? 'perl' : 'unshare';
}

/** Work done inside the new namespaces by whatever creates them. */
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
  // Never the user namespace: the userns helper pins that one.
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    const file = ns[kind];
    if (file !== undefined) args.push(`--${kind}=${file}`);
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
