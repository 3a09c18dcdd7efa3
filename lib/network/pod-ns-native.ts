import { getSystemErrorMap } from 'node:util';
import { loadNativeAddon } from '../native-addon';
import type { PinnedFiles, PinnsSetup } from './pod-pinns';

/**
 * The in-process way to make a pod's net/ipc/uts namespaces: native/pod-ns.c does on a thread
 * of its own what pod-pinns.ts's perl script does in a process (unshare, pin, hostname, `lo`
 * up, sysctls, /dev/shm), without the ~10 ms exec on the path to the CNI ADD (issue 17).
 * `CRIO_TS_PODNS=exec` in the daemon's environment forces the perl script (as CRIO_TS_SPAWN=fork
 * does for lib/spawn.ts), and so does an addon that was not built.
 */

/** What native/pod-ns.c's create() takes (its header documents it). */
export interface PodNsSpec {
  files: [kind: 'net' | 'ipc' | 'uts', path: string][];
  hostname: string;
  loopbackUp: boolean;
  shm: [path: string, options: string] | null;
  sysctls: [key: string, value: string][];
}

interface NativePodNs {
  create(spec: PodNsSpec): Promise<void>;
}

/** The error create() rejects with: the failing step and its errno. */
interface StepError extends Error {
  step?: string;
  errno?: number;
}

/** Which way pod namespaces are made: 'thread' (native/pod-ns.c) or 'exec' (the perl script). */
export type PodNsBackend = 'thread' | 'exec';

const native = process.env['CRIO_TS_PODNS'] === 'exec' ? undefined : loadNativeAddon<NativePodNs>('pod-ns');

/** The backend this process uses by default. */
export function podNsBackend(): PodNsBackend {
  return native ? 'thread' : 'exec';
}

/**
 * The addon's spec for `ns` and `setup`, the same choices as podPinnsArgs makes (pure): the
 * hostname only with a new UTS namespace, `lo` only with a new netns, shm options as the perl
 * path mounts them. Undefined with a user namespace (userns-pinns.ts makes those).
 */
export function podNsSpec(ns: PinnedFiles, setup: PinnsSetup): PodNsSpec | undefined {
  if (ns.user !== undefined) return undefined;
  const files: PodNsSpec['files'] = [];
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    const file = ns[kind];
    if (file !== undefined) files.push([kind, file]);
  }
  return {
    files,
    hostname: ns.uts !== undefined ? (setup.hostname ?? '') : '',
    loopbackUp: ns.net !== undefined && setup.loopbackUp === true,
    shm: setup.shm ? [setup.shm.path, `mode=1777,size=${Math.floor(setup.shm.sizeBytes)}`] : null,
    sysctls: (setup.sysctls ?? []).map((s) => [s.path, s.value]),
  };
}

/** "ENOENT (no such file or directory)" for errno 2 (pure). */
export function errnoText(errno: number): string {
  const known = getSystemErrorMap().get(-errno);
  return known ? `${known[0]} (${known[1]})` : `errno ${errno}`;
}

/**
 * Makes the namespaces on a thread; resolves when they are pinned and set up. Rejects with an
 * Error whose message is "<step>: <ERRNO> (<text>)", e.g. "mount /proc/thread-self/ns/net on
 * /run/netns/x: ENOENT (no such file or directory)"; the pins this call made are already
 * detached then. Throws when the addon is not loaded (check podNsBackend() first).
 */
export async function createPodNsOnThread(spec: PodNsSpec): Promise<void> {
  if (!native) throw new Error('native/pod-ns addon is not loaded');
  try {
    await native.create(spec);
  } catch (err) {
    const e = err as StepError;
    if (e.step !== undefined && e.errno !== undefined) throw new Error(`${e.step}: ${errnoText(e.errno)}`);
    throw err;
  }
}
