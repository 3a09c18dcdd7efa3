import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * /proc/self/mountinfo (proc(5)): storage checks what is mounted, the namespace code whether a
 * path is a mount point, both without spawning findmnt. Parsing is pure and unit-tested.
 */

/** One line of mountinfo. */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** Absolute mount point, with the kernel's octal escapes decoded. */
  mountPoint: string;
  /** Optional fields such as `shared:3`, `master:1`; empty means private propagation. */
  optionalFields: string[];
  fstype: string;
  source: string;
  /** Per-superblock options (`lowerdir=…,upperdir=…` for overlay). */
  superOptions: string;
}

/** Decodes the `\040`-style octal escapes the kernel uses for space, tab, newline and backslash. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text; malformed lines are skipped because the kernel format is the authority. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    // Optional fields (shared:N, master:N, …) end at a lone "-".
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 4) continue;
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    const mountPoint = fields[4];
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId) || mountPoint === undefined) continue;
    out.push({
      mountId,
      parentId,
      mountPoint: unescapeMountField(mountPoint),
      optionalFields: fields.slice(6, sep),
      fstype: fields[sep + 1] ?? '',
      source: unescapeMountField(fields[sep + 2] ?? ''),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return out;
}

/** How many mounts are stacked on each mount point of the calling process. */
export async function readMountPointCounts(): Promise<Map<string, number>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const counts = new Map<string, number>();
  for (const e of parseMountInfo(text)) counts.set(e.mountPoint, (counts.get(e.mountPoint) ?? 0) + 1);
  return counts;
}

/**
 * Whether a filesystem of its own (overlay, tmpfs, nsfs) is mounted at `target`, however many
 * times: its device then differs from its parent directory's. Blind to a bind mount within one
 * filesystem (that needs mountinfo); two stats instead of reading mountinfo, which takes 10-25 ms
 * on a node with a thousand mounts. False when `target` does not exist.
 */
export async function hasOwnFilesystem(target: string): Promise<boolean> {
  try {
    const [st, parent] = await Promise.all([fs.stat(target), fs.stat(path.dirname(target))]);
    return st.dev !== parent.dev;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
