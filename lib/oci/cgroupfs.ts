import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, InvalidArgumentError, errnoCode } from '../errors';

/**
 * Minimal cgroupfs helpers for what runc does not do for us: putting conmon into a cgroup before it
 * forks (so it leaves the daemon's cgroup and survives a daemon restart) and removing parent cgroup
 * directories runc created but never deletes.
 */

/** Mount points of every cgroup (v1) and cgroup2 hierarchy, from a /proc/self/mountinfo text. */
export function parseCgroupMounts(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    // mountinfo escapes blanks as octal; cgroup mounts never have them, but decode anyway.
    if (mountPoint) out.push(mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

let mounts: Promise<string[]> | undefined;

/**
 * The cgroup hierarchies, read once per process as cgroupLayout() is: they are mounted at boot,
 * and mountinfo takes 10-25 ms to read on a node with a thousand mounts (every container create
 * and pod stop asked).
 */
function cgroupMounts(): Promise<string[]> {
  mounts ??= fs.readFile('/proc/self/mountinfo', 'utf8').then(parseCgroupMounts, (err: unknown) => {
    mounts = undefined;
    throw err;
  });
  return mounts;
}

function relative(cgroupPath: string): string {
  // Checked on the raw input: normalising first would turn "/a/../../etc" into a valid-looking "/etc".
  const parts = cgroupPath.split('/');
  if (!cgroupPath.startsWith('/') || parts.includes('..') || parts.includes('.') || cgroupPath.includes('\0')) {
    throw new InvalidArgumentError(`cgroup path "${cgroupPath}" must be absolute without . or .. components`);
  }
  const normal = path.posix.normalize(cgroupPath);
  if (normal === '/') throw new InvalidArgumentError('refusing to use the root cgroup');
  return normal;
}

/** Fills cpuset.cpus/mems of a new cpuset cgroup from its parent; an empty cpuset refuses tasks. */
async function inheritCpuset(dir: string): Promise<void> {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    const own = await fs.readFile(path.join(dir, file), 'utf8').catch(() => undefined);
    if (own === undefined || own.trim() !== '') continue;
    const parent = await fs.readFile(path.join(path.dirname(dir), file), 'utf8');
    await fs.writeFile(path.join(dir, file), parent.trim());
  }
}

async function mkdirCgroup(mountPoint: string, rel: string): Promise<string> {
  let dir = mountPoint;
  for (const part of rel.split('/').filter(Boolean)) {
    dir = path.join(dir, part);
    try {
      await fs.mkdir(dir);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    await inheritCpuset(dir);
  }
  return dir;
}

/** Moves a process into `cgroupPath` in every mounted hierarchy, creating the directories. */
export async function moveToCgroup(pid: number, cgroupPath: string): Promise<void> {
  // 0 would mean "the writer itself" (the daemon) and 1 is init: never ours to move.
  if (!Number.isInteger(pid) || pid <= 1) throw new InvalidArgumentError(`refusing to move pid ${pid} between cgroups`);
  const rel = relative(cgroupPath);
  for (const mountPoint of await cgroupMounts()) {
    const dir = await mkdirCgroup(mountPoint, rel);
    try {
      await fs.writeFile(path.join(dir, 'cgroup.procs'), String(pid));
    } catch (err) {
      throw new InternalError(`cannot move pid ${pid} into cgroup ${dir}`, { cause: err });
    }
  }
}

/** Creates `cgroupPath` (empty) in every mounted hierarchy; existing directories are fine. */
export async function createCgroup(cgroupPath: string): Promise<void> {
  const rel = relative(cgroupPath);
  for (const mountPoint of await cgroupMounts()) await mkdirCgroup(mountPoint, rel);
}

/**
 * The cgroup paths (as createCgroup takes them) named one of `names`, at most `maxDepth` levels
 * down one hierarchy (runc and createCgroup make the same tree in all of them). For cleanup of
 * cgroups whose parent nobody recorded; walks the tree, so only when there is something to find.
 */
export async function findCgroups(names: ReadonlySet<string>, maxDepth = 6): Promise<string[]> {
  const [root] = await cgroupMounts();
  if (root === undefined || names.size === 0) return [];
  const found: string[] = [];
  let level = ['/'];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const rel of level) {
      const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const child = path.posix.join(rel, e.name);
        if (names.has(e.name)) found.push(child);
        else next.push(child);
      }
    }
    level = next;
  }
  return found;
}

/** Removes `cgroupPath` (and, with `parents`, its now-empty ancestors up to that depth) in every hierarchy; missing is fine. */
export async function removeCgroup(cgroupPath: string, parents = 0): Promise<void> {
  const rel = relative(cgroupPath);
  for (const mountPoint of await cgroupMounts()) {
    let current = rel;
    for (let level = 0; level <= parents && current !== '/'; level++, current = path.posix.dirname(current)) {
      try {
        await fs.rmdir(path.join(mountPoint, current));
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT') continue;
        // A parent that still holds other children is not ours to remove.
        if (level > 0 && (code === 'EBUSY' || code === 'ENOTEMPTY')) break;
        throw new InternalError(`cannot remove cgroup ${path.join(mountPoint, current)}`, { cause: err });
      }
    }
  }
}
