import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { getLockFile, type LockFile } from './lockfile';
import { parseRecords } from './store-records';

/**
 * One of containers/storage's record files (layers.json, images.json, containers.json,
 * mountpoints.json) with the lock file that guards it. Records are held in memory and re-read
 * only when another writer touched the lock (its token changed) or the file's mtime moved (what
 * c/storage's layer store also checks): a read on a hot path costs a lock and a 64-byte read,
 * never a parse. Writes replace the file atomically (mode 0600 as c/storage's) and then touch the
 * lock so other processes reload.
 */
export class RecordFile<T extends { id: string }> {
  readonly lock: LockFile;
  private records: T[] = [];
  private mtimeMs = -1;
  private loads = 0;

  constructor(
    readonly file: string,
    lockPath: string,
    private readonly options: { readOnly?: boolean; durable?: boolean } = {},
  ) {
    this.lock = getLockFile(lockPath, options.readOnly ?? false);
  }

  /** How many times the file was parsed (for tests and the lock benchmark). */
  get loadCount(): number {
    return this.loads;
  }

  /** Runs `fn` on current records under a shared lock. */
  async read<R>(fn: (records: readonly T[]) => R | Promise<R>): Promise<R> {
    await this.lock.rlock();
    try {
      await this.reloadIfChanged();
      return await fn(this.records);
    } finally {
      this.lock.unlock();
    }
  }

  /** Runs `fn` under the exclusive lock; `fn` returns the new records (or undefined for no change), which are saved. */
  async write<R>(fn: (records: readonly T[]) => Promise<{ records?: T[]; result: R }> | { records?: T[]; result: R }): Promise<R> {
    await this.lock.lock();
    try {
      await this.reloadIfChanged();
      const { records, result } = await fn(this.records);
      if (records) await this.save(records);
      return result;
    } finally {
      this.lock.unlock();
    }
  }

  /** Records as of the last load (the caller holds the lock). */
  current(): readonly T[] {
    return this.records;
  }

  /** Saves `records` (the caller holds the exclusive lock). */
  async save(records: T[]): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, JSON.stringify(records), 0o600, this.options.durable ?? true);
    this.records = records;
    this.lock.touch();
    this.mtimeMs = await this.mtime();
  }

  /** Re-reads the file when another process wrote it (the caller holds a lock). */
  async reloadIfChanged(): Promise<void> {
    const touched = this.lock.modified();
    const mtime = await this.mtime();
    if (!touched && mtime === this.mtimeMs) return;
    let text = '';
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    this.records = parseRecords<T>(text, this.file);
    this.mtimeMs = mtime;
    this.loads++;
  }

  private async mtime(): Promise<number> {
    try {
      return (await fs.stat(this.file)).mtimeMs;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 0;
      throw err;
    }
  }
}
