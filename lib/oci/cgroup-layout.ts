import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Where the host's cgroup controllers are mounted, probed once: cgroup v1 (one hierarchy per
 * controller, possibly co-mounted like cpu,cpuacct) or v2 (one unified tree). Stats, OOM detection
 * and resource updates read the container's files through this.
 */

/** The host's cgroup setup. */
export interface CgroupLayout {
  version: 1 | 2;
  /** Controller name → mount point (v1), or every enabled controller → the unified root (v2). */
  controllers: Map<string, string>;
  /** Whether memory+swap can be limited (v1 memory.memsw.*, v2 memory.swap.max). */
  swapAccounting: boolean;
}

/** Parses the cgroup mounts of a mountinfo text: v1 controllers and the cgroup2 mount point, if any. */
export function parseCgroupMounts(mountinfo: string): { v1: Map<string, string>; v2?: string } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const mountPoint = fields[4];
    if (sep < 0 || mountPoint === undefined) continue;
    const fstype = fields[sep + 1];
    if (fstype === 'cgroup2') v2 ??= mountPoint;
    if (fstype !== 'cgroup') continue;
    for (const opt of (fields[sep + 3] ?? '').split(',')) {
      // Named hierarchies (name=systemd) and mount flags are not controllers.
      if (['rw', 'ro', 'nosuid', 'nodev', 'noexec', 'relatime', 'xattr', 'clone_children'].includes(opt) || opt.includes('=')) continue;
      if (!v1.has(opt)) v1.set(opt, mountPoint);
    }
  }
  return v2 === undefined ? { v1 } : { v1, v2 };
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

async function probe(): Promise<CgroupLayout> {
  const { v1, v2 } = parseCgroupMounts(await fs.readFile('/proc/self/mountinfo', 'utf8'));
  // Hybrid hosts mount an empty cgroup2 tree beside v1 (…/unified): the controllers are in v1 there.
  if (v1.has('memory') || v1.has('cpu') || v2 === undefined) {
    const memory = v1.get('memory');
    return { version: 1, controllers: v1, swapAccounting: memory !== undefined && (await exists(path.join(memory, 'memory.memsw.limit_in_bytes'))) };
  }
  const names = (await fs.readFile(path.join(v2, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean);
  const own =
    (await fs.readFile('/proc/self/cgroup', 'utf8'))
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3) ?? '/';
  return {
    version: 2,
    controllers: new Map(names.map((n) => [n, v2])),
    swapAccounting: (await exists(path.join(v2, own, 'memory.swap.max'))) || (await exists(path.join(v2, 'system.slice', 'memory.swap.max'))),
  };
}

let cached: Promise<CgroupLayout> | undefined;

/** The host's cgroup layout (probed on first use; it cannot change while the daemon runs). */
export function cgroupLayout(): Promise<CgroupLayout> {
  cached ??= probe();
  return cached;
}

/** The directory of `cgroupPath` in the hierarchy holding `controller`, if the host has that controller. */
export function controllerDir(layout: CgroupLayout, controller: string, cgroupPath: string): string | undefined {
  const root = layout.controllers.get(controller);
  return root === undefined ? undefined : path.join(root, cgroupPath);
}
