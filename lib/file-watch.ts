import { promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { asError } from './errors';
import type { Logger } from './log';

/**
 * Configuration read from files the node's operator or a device vendor writes while crio-ts runs
 * (CDI spec dirs, OCI hook dirs, mounts.conf): loaded once at start, kept in memory, and loaded
 * again only when inotify says something changed. CreateContainer reads the in-memory value, so a
 * node without such files pays nothing per container.
 *
 * A path that does not exist yet is watched through its deepest existing ancestor, filtered on
 * the next path component, so `/var/run/cdi` created by a DRA driver after start is noticed
 * without reacting to every other change in `/var/run`.
 */

/** A directory whose entries matter, or a single file. */
export interface WatchTarget {
  path: string;
  kind: 'dir' | 'file';
}

/** Options of a WatchedSource. */
export interface WatchedSourceOptions<T> {
  /** What is watched, for log lines ("CDI specs"). */
  what: string;
  /** Paths to watch; evaluated again at each reload. */
  targets: () => WatchTarget[];
  /** Reads everything; per-file problems belong in T, a throw keeps the previous value. */
  load: () => Promise<T>;
  log: Logger;
  /** Coalescing delay after a change event (a writer's create + write + rename come as bursts). */
  settleMs?: number;
}

/** Where an inotify watch goes for `target`: the directory itself, or an ancestor filtered by name. */
interface WatchPoint {
  dir: string;
  /** Only events for this entry of `dir` count. */
  name?: string;
}

async function isDirectory(p: string): Promise<boolean> {
  return fs.stat(p).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

async function watchPoint(target: WatchTarget): Promise<WatchPoint> {
  let child = path.resolve(target.path);
  if (target.kind === 'dir' && (await isDirectory(child))) return { dir: child };
  let parent = path.dirname(child);
  while (parent !== child && !(await isDirectory(parent))) {
    child = parent;
    parent = path.dirname(parent);
  }
  return { dir: parent, name: path.basename(child) };
}

const keyOf = (p: WatchPoint): string => `${p.dir}\0${p.name ?? ''}`;

/** A value loaded from watched files, reloaded when they change. */
export class WatchedSource<T> {
  /** Set by start() before the source is handed out. */
  private value!: T;
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  /** Serialises loads; `queued` is a load not yet started that new requests share. */
  private chain: Promise<unknown> = Promise.resolve();
  private queued: Promise<T> | undefined;
  private closed = false;

  private constructor(private readonly opts: WatchedSourceOptions<T>) {}

  /**
   * Starts watching, then loads: watching first means a change made while loading still
   * triggers a reload, and one made before is in the load.
   */
  static async start<T>(opts: WatchedSourceOptions<T>): Promise<WatchedSource<T>> {
    const source = new WatchedSource(opts);
    await source.arm();
    source.value = await opts.load();
    return source;
  }

  /** A source loaded from directories (made absolute, handed to `load`), watched for entries changing. */
  static forDirs<T>(what: string, dirs: readonly string[], load: (dirs: string[]) => Promise<T>, log: Logger): Promise<WatchedSource<T>> {
    const abs = dirs.map((d) => path.resolve(d));
    return WatchedSource.start({ what, targets: () => abs.map((p) => ({ path: p, kind: 'dir' as const })), load: () => load(abs), log });
  }

  /** The value from the last successful load. */
  current(): T {
    return this.value;
  }

  /** Loads again now (a change event does the same); concurrent callers share one load. */
  refresh(): Promise<T> {
    if (this.queued) return this.queued;
    const next = this.chain.then(async () => {
      this.queued = undefined;
      return this.reload();
    });
    this.queued = next;
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Stops watching; the last value stays readable. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private async reload(): Promise<T> {
    if (this.closed) return this.value;
    // Re-arm first (a directory may have appeared or gone), for the reason start() gives.
    await this.arm();
    try {
      this.value = await this.opts.load();
    } catch (err) {
      this.opts.log.warn('reload failed; keeping the previous configuration', { what: this.opts.what, err: asError(err).message });
    }
    return this.value;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh().catch(() => undefined);
    }, this.opts.settleMs ?? 50);
    this.timer.unref();
  }

  /** Watches exactly the points the current targets need; unchanged points keep their watcher. */
  private async arm(): Promise<void> {
    if (this.closed) return;
    const points = await Promise.all(this.opts.targets().map(watchPoint));
    const wanted = new Map(points.map((p) => [keyOf(p), p]));
    for (const [key, w] of this.watchers) {
      if (!wanted.has(key)) {
        w.close();
        this.watchers.delete(key);
      }
    }
    for (const [key, point] of wanted) {
      if (this.watchers.has(key)) continue;
      try {
        const w = watch(point.dir, { persistent: false }, (_event, filename) => {
          const name = filename?.toString();
          // An event on the watched directory itself (inotify names it by its basename): it was
          // removed or moved, and its inode number may come back with a new directory, so the
          // watch is dropped here and made again from scratch.
          if (name === undefined || name === path.basename(point.dir)) {
            w.close();
            this.watchers.delete(key);
            this.schedule();
          } else if (point.name === undefined || name === point.name) this.schedule();
        });
        // A watched directory that goes away ends its watch: look again for where to watch.
        w.on('error', () => {
          w.close();
          this.watchers.delete(key);
          this.schedule();
        });
        this.watchers.set(key, w);
      } catch (err) {
        this.opts.log.warn('cannot watch for changes', { what: this.opts.what, dir: point.dir, err: asError(err).message });
      }
    }
  }
}
