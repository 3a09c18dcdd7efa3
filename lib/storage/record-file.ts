import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { getLockFile, type LockFile } from './lockfile';
import { mergeLocations, planSave, type RecordLocation } from './record-locations';
import { parseRecords } from './store-records';

/** What a write's callback returns: the new records (undefined: no change) and which new IDs go to the volatile file. */
export interface RecordChange<T, R> {
  records?: T[];
  result: R;
  /** IDs of records created volatile (c/storage's Volatile containers and their layers). */
  volatile?: readonly string[];
}

/** Constructor options of RecordFile. */
export interface RecordFileOptions {
  readOnly?: boolean;
  /** fsync the file and its directory on save (default true). */
  durable?: boolean;
  /**
   * The store's volatile file (volatile-layers.json, volatile-containers.json): read and merged
   * with the durable one under the same lock; records created volatile are saved there by atomic
   * rename without fsync (c/storage ≥ 1.45's layout).
   */
  volatileFile?: string;
}

const NO_IDS: ReadonlySet<string> = new Set();

/**
 * One of containers/storage's record files (layers.json, images.json, containers.json,
 * mountpoints.json) with the lock file that guards it, and for layers and containers the store's
 * volatile file too (record-locations.ts). Records are held in memory and re-read only when
 * another writer touched the lock (its token changed) or a file's mtime moved (what c/storage's
 * layer store also checks): a read on a hot path costs a lock and a 64-byte read, never a parse.
 * Writes replace the files whose records changed atomically (mode 0600 as c/storage's) and then
 * touch the lock so other processes reload.
 */
export class RecordFile<T extends { id: string }> {
  readonly lock: LockFile;
  private records: T[] = [];
  private locations = new Map<string, RecordLocation>();
  private texts: Record<RecordLocation, string> = { durable: '[]', volatile: '[]' };
  /** mtimes of the durable and the volatile file as last loaded or saved (0: missing). */
  private mtimes: Record<RecordLocation, number> = { durable: -1, volatile: -1 };
  private loads = 0;

  constructor(
    readonly file: string,
    lockPath: string,
    private readonly options: RecordFileOptions = {},
  ) {
    this.lock = getLockFile(lockPath, options.readOnly ?? false);
  }

  /** The volatile file, if this store has one. */
  get volatileFile(): string | undefined {
    return this.options.volatileFile;
  }

  /** Which file a record was loaded from or saved to (the caller holds the lock). */
  locationOf(id: string): RecordLocation | undefined {
    return this.locations.get(id);
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
  async write<R>(fn: (records: readonly T[]) => Promise<RecordChange<T, R>> | RecordChange<T, R>): Promise<R> {
    await this.lock.lock();
    try {
      await this.reloadIfChanged();
      const { records, result, volatile } = await fn(this.records);
      if (records) await this.save(records, volatile ? { volatile } : {});
      return result;
    } finally {
      this.lock.unlock();
    }
  }

  /** Records as of the last load (the caller holds the lock). */
  current(): readonly T[] {
    return this.records;
  }

  /**
   * Saves `records` (the caller holds the exclusive lock): each keeps its file, new ones listed in
   * `volatile` go to the volatile file; only files whose records changed are written (a store
   * without a volatile file always writes its one file, as before).
   */
  async save(records: T[], options: { volatile?: readonly string[] } = {}): Promise<void> {
    const volatileFile = this.options.volatileFile;
    const plan = volatileFile === undefined ? undefined : planSave(records, this.locations, this.texts, options.volatile ? new Set(options.volatile) : NO_IDS);
    const writes = plan ? plan.writes : [{ location: 'durable' as const, text: JSON.stringify(records) }];
    if (writes.length > 0) await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    for (const w of writes) {
      const target = this.pathOf(w.location);
      // The volatile file is c/storage's NoSync write: atomic, but possibly lost in a crash.
      await writeFileAtomic(target, w.text, 0o600, w.location === 'durable' && (this.options.durable ?? true));
    }
    this.records = records;
    if (plan) {
      this.locations = plan.locations;
      this.texts = plan.texts;
    }
    if (writes.length === 0) return;
    this.lock.touch();
    for (const w of writes) this.mtimes[w.location] = await this.mtime(this.pathOf(w.location));
  }

  /** Re-reads the files when another process wrote them (the caller holds a lock). */
  async reloadIfChanged(): Promise<void> {
    const touched = this.lock.modified();
    const volatileFile = this.options.volatileFile;
    const mtimes: Record<RecordLocation, number> = { durable: await this.mtime(this.file), volatile: volatileFile === undefined ? 0 : await this.mtime(volatileFile) };
    if (!touched && mtimes.durable === this.mtimes.durable && mtimes.volatile === this.mtimes.volatile) return;
    const durable = parseRecords<T>(await readIfExists(this.file), this.file);
    if (volatileFile === undefined) {
      // One file: every record is durable and every save writes it, so nothing to compare against.
      this.records = durable;
    } else {
      const merged = mergeLocations({ durable, volatile: parseRecords<T>(await readIfExists(volatileFile), volatileFile) });
      this.records = merged.records;
      this.locations = merged.locations;
      this.texts = merged.texts;
    }
    this.mtimes = mtimes;
    this.loads++;
  }

  private pathOf(location: RecordLocation): string {
    return location === 'volatile' ? (this.options.volatileFile ?? this.file) : this.file;
  }

  private async mtime(file: string): Promise<number> {
    try {
      return (await fs.stat(file)).mtimeMs;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 0;
      throw err;
    }
  }
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    return '';
  }
}
