import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_MOUNTS, DEFAULT_SHM_MOUNT, READ_ONLY_TMPFS_MOUNTS } from './defaults';
import type { SpecInput, SpecMountInput } from './spec-input';
import type { Linux, Mount } from './spec.gen';

/** Mount list construction for generateSpec (pure). */

/** Normalised destination used to decide which mount wins: `/etc/hosts/` and `/etc//hosts` are one path. */
export function mountKey(destination: string): string {
  const normal = path.posix.normalize(destination);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

const depth = (destination: string): number => mountKey(destination).split('/').filter(Boolean).length;

/** Replaces any `ro` with `rw` (CRI-O's clearReadOnly for privileged containers). */
function makeWritable(m: Mount): Mount {
  const options = (m.options ?? []).filter((o) => o !== 'ro' && o !== 'rw');
  return { ...m, options: [...options, 'rw'] };
}

function podFileMounts(input: SpecInput): Mount[] {
  const files = input.podFiles;
  const ro = input.security.readonlyRootfs ? 'ro' : 'rw';
  const out: Mount[] = [];
  // Options follow CRI-O: with a read-only rootfs resolv.conf and hostname become ro, hosts stays rw.
  if (files.hostsPath) out.push({ destination: '/etc/hosts', type: 'bind', source: files.hostsPath, options: ['rw', 'bind'] });
  if (files.resolvPath) out.push({ destination: '/etc/resolv.conf', type: 'bind', source: files.resolvPath, options: [ro, 'bind', 'nodev', 'nosuid', 'noexec'] });
  if (files.hostnamePath) out.push({ destination: '/etc/hostname', type: 'bind', source: files.hostnamePath, options: [ro, 'bind'] });
  if (files.shmPath) out.push({ destination: '/dev/shm', type: 'bind', source: files.shmPath, options: ['rw', 'bind'] });
  return out;
}

function bindMounts(list: readonly SpecMountInput[]): Mount[] {
  return list.map((m) => {
    if (!path.posix.isAbsolute(m.containerPath)) throw new InvalidArgumentError(`mount container path "${m.containerPath}" is not absolute`);
    if (!path.posix.isAbsolute(m.hostPath)) throw new InvalidArgumentError(`mount host path "${m.hostPath}" is not absolute`);
    const propagation = m.propagation === 'private' ? 'rprivate' : m.propagation;
    if (m.recursiveReadOnly && (!m.readonly || m.propagation !== 'private')) {
      throw new InvalidArgumentError(`recursive read-only mount of "${m.hostPath}" must be read-only with private propagation`);
    }
    // `rro` makes runc apply MOUNT_ATTR_RDONLY to the whole tree (mount_setattr), not only the top mount.
    const mode = m.recursiveReadOnly ? ['ro', 'rro'] : [m.readonly ? 'ro' : 'rw'];
    return { destination: m.containerPath, type: 'bind', source: m.hostPath, options: [...mode, 'rbind', propagation] };
  });
}

/**
 * All mounts of the container: defaults, then mounts.conf binds, then pod files, then CRI mounts, where a later entry with the
 * same destination replaces an earlier one; finally a stable sort by path depth so a parent (/dev) is
 * always mounted before what lies inside it (/dev/shm), whatever the input order.
 */
export function buildMounts(input: SpecInput): Mount[] {
  const privileged = input.security.privileged;
  const defaults: Mount[] = DEFAULT_MOUNTS.map((m) => ({ ...m, options: [...(m.options ?? [])] })).map((m) => (privileged ? makeWritable(m) : m));
  const ipcHost = input.namespaces.ipc.mode === 'host';
  if (ipcHost && input.hostMqueue !== false) {
    // A fresh mqueue mount in the host IPC namespace would be the host's anyway; CRI-O binds the
    // host's. A host without /dev/mqueue (no systemd to mount it) keeps the fresh mount.
    const i = defaults.findIndex((m) => m.destination === '/dev/mqueue');
    defaults[i] = { destination: '/dev/mqueue', type: 'bind', source: '/dev/mqueue', options: ['rw', 'rbind', 'nodev', 'nosuid', 'noexec'] };
  }
  defaults.push({ ...DEFAULT_SHM_MOUNT, options: [...(DEFAULT_SHM_MOUNT.options ?? [])] });
  if (input.security.readOnlyTmpfs) defaults.push(...READ_ONLY_TMPFS_MOUNTS.map((m) => ({ ...m, options: [...(m.options ?? [])] })));

  const byKey = new Map<string, Mount>();
  for (const m of [...defaults, ...bindMounts(input.defaultMounts ?? []), ...podFileMounts(input), ...bindMounts(input.mounts)]) {
    const key = mountKey(m.destination);
    byKey.delete(key); // re-insert so the winner takes the later position
    byKey.set(key, m);
  }
  const list = [...byKey.values()];
  return list.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map((x) => x.m);
}

/**
 * runc also accepts the recursive forms, and CRI-O uses them: a non-recursive `slave` would only change
 * `/` and leave the host's shared submounts shared, so mounts made in the container could reach the host.
 * The Debian JSON schema lists only the non-recursive names, hence this wider type.
 */
export type RootfsPropagation = NonNullable<Linux['rootfsPropagation']> | 'rprivate' | 'rslave' | 'rshared';

/** Root propagation needed by the CRI mounts: rshared wins over rslave; undefined leaves runc's default (rslave). */
export function rootfsPropagation(input: SpecInput): RootfsPropagation | undefined {
  if (input.mounts.some((m) => m.propagation === 'rshared')) return 'rshared';
  if (input.mounts.some((m) => m.propagation === 'rslave')) return 'rslave';
  return undefined;
}
