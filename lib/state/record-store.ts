import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, InternalError, NotFoundError } from '../errors';
import { removeStaleTempFiles, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import { quote } from '../quote';

/** Every persisted record carries its ID and a schema version. */
export interface VersionedRecord {
  version: number;
  id: string;
}

export interface RecordStoreOptions<T extends VersionedRecord> {
  /** Directory holding one `<id>.json` per record. */
  dir: string;
  /** What the records are, for messages ("pod sandbox", "container"). */
  kind: string;
  /** The schema version this build reads and writes. */
  version: number;
  /** Checks a parsed file; returns the record or throws naming what is wrong. */
  validate: (value: unknown) => T;
  /**
   * fsync each write (default false). Pod and container records need not: an fsync only
   * matters when the kernel dies, i.e. the node reboots, and after a reboot every pod and
   * container record is dropped anyway (recoverNodeEvents) while start-up cleanup finds their
   * leftovers without records (removeOrphans). A daemon crash keeps written files in the page
   * cache. Writes stay atomic, and a file torn by a power loss is moved aside at load.
   */
  durable?: boolean;
}

/**
 * In-memory records backed by one JSON file each. `update` persists the new record first
 * (atomic rename) and only then swaps it in memory, so memory never runs ahead of disk; updates
 * of one ID are serialized so concurrent RPCs on the same object cannot lose writes.
 */
export class RecordStore<T extends VersionedRecord> {
  private readonly records = new Map<string, T>();
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly options: RecordStoreOptions<T>) {}

  /** Loads every record; unreadable or foreign-version files are moved aside, not fatal. */
  async load(log: Logger): Promise<void> {
    await fs.mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    await removeStaleTempFiles(this.options.dir);
    for (const name of await fs.readdir(this.options.dir)) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(this.options.dir, name);
      try {
        const value = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
        const record = this.options.validate(value);
        if (record.version !== this.options.version) throw new Error(`unknown record version ${record.version}`);
        if (`${record.id}.json` !== name) throw new Error(`record id ${record.id} does not match file name`);
        this.records.set(record.id, record);
      } catch (err) {
        // A corrupt record must not block start-up: keep it for inspection, drop it from state.
        const aside = `${file}.corrupt`;
        await fs.rename(file, aside).catch(() => undefined);
        log.warn('dropped corrupt record', { kind: this.options.kind, file: aside, err: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** The record, or undefined. */
  find(id: string): T | undefined {
    return this.records.get(id);
  }

  /** The record, or NotFoundError naming the kind and ID. */
  get(id: string): T {
    const r = this.records.get(id);
    if (!r) throw new NotFoundError(`${this.options.kind} ${quote(id)} not found`);
    return r;
  }

  /** All records (a snapshot array). */
  list(): T[] {
    return [...this.records.values()];
  }

  /** Number of records. */
  get size(): number {
    return this.records.size;
  }

  /** Resolves a full ID or a unique ID prefix (crictl accepts truncated IDs). */
  resolveId(idOrPrefix: string): string | undefined {
    if (this.records.has(idOrPrefix)) return idOrPrefix;
    if (idOrPrefix.length === 0) return undefined;
    let found: string | undefined;
    for (const id of this.records.keys()) {
      if (id.startsWith(idOrPrefix)) {
        if (found !== undefined) return undefined; // ambiguous
        found = id;
      }
    }
    return found;
  }

  /** Persists a new record. */
  async create(record: T): Promise<T> {
    return this.serialize(record.id, async () => {
      if (this.records.has(record.id)) throw new InternalError(`${this.options.kind} ${record.id} already recorded`);
      await writeJsonAtomic(this.file(record.id), record, 0o600, this.options.durable ?? false);
      this.records.set(record.id, record);
      return record;
    });
  }

  /** Computes, persists, then swaps in the new version of a record. */
  async update(id: string, fn: (current: T) => T): Promise<T> {
    return this.serialize(id, async () => {
      const next = fn(this.get(id));
      await writeJsonAtomic(this.file(id), next, 0o600, this.options.durable ?? false);
      this.records.set(id, next);
      return next;
    });
  }

  /** Deletes a record from disk and memory; a missing record is fine. */
  async delete(id: string): Promise<void> {
    await this.serialize(id, async () => {
      try {
        await fs.unlink(this.file(id));
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      this.records.delete(id);
    });
  }

  private file(id: string): string {
    return path.join(this.options.dir, `${id}.json`);
  }

  private serialize<R>(id: string, fn: () => Promise<R>): Promise<R> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return next;
  }
}
