import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';

/** Disk use of a tree: allocated bytes (st_blocks, as du) and inodes (files + dirs). */
export interface DirUsage {
  bytes: number;
  inodes: number;
}

/** Walks `dir` without following symlinks; a missing dir or an entry deleted meanwhile counts as nothing. */
export async function dirUsage(dir: string): Promise<DirUsage> {
  const total: DirUsage = { bytes: 0, inodes: 0 };
  const seen = new Set<string>();
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await fs.lstat(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    // Hard links are one inode and one set of blocks.
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    total.inodes++;
    total.bytes += st.blocks * 512;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = await fs.readdir(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const n of names) await walk(path.join(p, n));
  };
  await walk(dir);
  return total;
}
