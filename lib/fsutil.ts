import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from './errors';

/**
 * File helpers for state that must survive a crash: a reader sees either the old or the new
 * content, never a torn write (write temp → fsync → rename → fsync directory).
 */

/**
 * Writes `data` to `file` atomically (readers never see a torn file) and, unless `durable` is
 * false, durably. Non-durable writes suit files on tmpfs or files rebuilt after a reboot anyway.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, durable = true): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${randomBytes(6).toString('hex')}`);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (durable) await syncDir(dir);
}

/** JSON variant of writeFileAtomic (durable unless `durable` is false). */
export async function writeJsonAtomic(file: string, value: unknown, mode = 0o644, durable = true): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 1) + '\n', mode, durable);
}

/** Reads and parses a JSON file; undefined when it does not exist. */
export async function readJsonIfExists(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as unknown;
}

/** fsync a directory so a rename or create inside it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** True when the path exists (any type, symlinks not followed). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Removes temp files left by writeFileAtomic calls interrupted by a crash. */
export async function removeStaleTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  await Promise.all(names.filter((n) => n.startsWith('.') && n.includes('.tmp-')).map((n) => fs.rm(path.join(dir, n), { force: true })));
}
