import { promises as fs } from 'node:fs';

/**
 * Reading /proc/self/mountinfo: the namespace code needs to know whether a path is a mount
 * point (pinned namespace files, the self-bound namespace directories) without spawning
 * findmnt for every check.
 */

/** Decodes the octal escapes (`\040` for space, `\011`, `\012`, `\134`) mountinfo uses in paths. */
export function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** One mountinfo line reduced to what we use. */
export interface MountInfoEntry {
  mountPoint: string;
  /** Optional fields such as `shared:3`, `master:1`; empty means private. */
  optionalFields: string[];
  fsType: string;
}

/** Parses mountinfo text; malformed lines are skipped rather than failing the caller. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (fields.length < 10 || sep < 0 || sep + 1 >= fields.length) continue;
    out.push({
      mountPoint: unescapeMountPath(fields[4]),
      optionalFields: fields.slice(6, sep),
      fsType: fields[sep + 1],
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
