import { lstatSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { monotonicMs } from '../monotonic';
import { errnoCode } from '../errors';

/**
 * Deletes a directory tree with synchronous unlink/rmdir in slices of a few milliseconds. A
 * layer can hold a hundred thousand files: fs.promises.rm pays a thread-pool round trip per
 * file (several times the syscall), and a single rmSync would stall the daemon for seconds.
 * Symlinks are removed, never followed. A missing tree is fine.
 */

const SLICE_MS = 10;

function ignoreGone(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/** Removes `dir` and everything below it. */
export async function removeTree(dir: string): Promise<void> {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!st.isDirectory()) {
    ignoreGone(() => unlinkSync(dir));
    return;
  }
  // Depth-first: a directory is listed when first met and removed once its entries are gone.
  const stack: { dir: string; listed: boolean }[] = [{ dir, listed: false }];
  let sliceStart = monotonicMs();
  while (stack.length > 0) {
    if (monotonicMs() - sliceStart > SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = monotonicMs();
    }
    const top = stack[stack.length - 1] as { dir: string; listed: boolean };
    if (top.listed) {
      stack.pop();
      ignoreGone(() => rmdirSync(top.dir));
      continue;
    }
    top.listed = true;
    let entries;
    try {
      entries = readdirSync(top.dir, { withFileTypes: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    for (const e of entries) {
      if (monotonicMs() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = monotonicMs();
      }
      const p = path.join(top.dir, e.name);
      if (e.isDirectory()) stack.push({ dir: p, listed: false });
      else ignoreGone(() => unlinkSync(p));
    }
  }
}
