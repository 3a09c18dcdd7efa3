/**
 * Parsing of /proc/<pid>/mountinfo (proc(5)). Pure so the escaping rules are unit-tested; the
 * reading lives in mount.ts.
 */

/** One line of mountinfo, reduced to the fields storage needs. */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** Absolute mount point, with the kernel's octal escapes decoded. */
  mountPoint: string;
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
      fstype: fields[sep + 1] ?? '',
      source: unescapeMountField(fields[sep + 2] ?? ''),
      superOptions: fields[sep + 3] ?? '',
    });
  }
  return out;
}
