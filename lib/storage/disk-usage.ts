import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';

/** Space used by a directory tree, as ImageFsInfo/ContainerStats report it. */
export interface DiskUsage {
  /** Allocated bytes (st_blocks × 512), each hardlinked inode counted once. */
  bytes: number;
  /** Distinct inodes, the root included. */
  inodes: number;
}

/**
 * Walks `dir` without following symlinks (du -s --inodes semantics). A missing `dir` is zero;
 * files vanishing during the walk are skipped, because live containers keep writing.
 */
export async function diskUsage(dir: string): Promise<DiskUsage> {
  // Only multiply-linked files can be met twice; remembering just those keeps memory small.
  const linked = new Set<string>();
  let bytes = 0;
  let inodes = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const p = stack.pop() as string;
    let st: Stats;
    try {
      st = await fs.lstat(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    if (!st.isDirectory() && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (linked.has(key)) continue;
      linked.add(key);
    }
    inodes++;
    bytes += st.blocks * 512;
    if (!st.isDirectory()) continue;
    let names: string[];
    try {
      names = await fs.readdir(p);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue;
      throw err;
    }
    for (const n of names) stack.push(path.join(p, n));
  }
  return { bytes, inodes };
}
