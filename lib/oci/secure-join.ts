import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, errnoCode } from '../errors';

/** Path resolution inside an untrusted tree (a container rootfs), in the manner of filepath-securejoin. */

const MAX_SYMLINKS = 40;

/**
 * Resolves `unsafePath` as if `root` were `/`: `..` and absolute symlink targets cannot leave `root`.
 * Components that do not exist are appended lexically. The result may still be swapped by a racing
 * writer, so callers open it with O_NOFOLLOW.
 */
export async function secureJoin(root: string, unsafePath: string): Promise<string> {
  const pending = unsafePath.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let target: string | undefined;
    try {
      const st = await fs.lstat(candidate);
      if (st.isSymbolicLink()) target = await fs.readlink(candidate);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new InvalidArgumentError(`too many symlinks resolving ${unsafePath} in ${root}`);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return path.join(root, ...resolved);
}
