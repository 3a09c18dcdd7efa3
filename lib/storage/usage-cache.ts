import type { DiskUsage } from './disk-usage';

/**
 * Disk usage served from a cache, for callers that poll (the kubelet asks for every
 * container's writable-layer usage and for ImageFsInfo every ~10 s). A fresh value is returned
 * as is; a stale one is returned at once while one refresh runs in the background; only the
 * first request for a key waits for a walk. Walks run one at a time, so a node with a hundred
 * containers costs one tree walk at a time, not a hundred at once.
 */

/** Constructor options for UsageCache. */
export interface UsageCacheOptions {
  /** Measures one key (a directory). */
  compute: (key: string) => Promise<DiskUsage>;
  /** Values younger than this are served without a refresh. */
  maxAgeMs: number;
  /** Clock, replaceable in tests. */
  now?: () => number;
  /** Called when a background refresh fails (the stale value keeps being served). */
  onError?: (key: string, err: unknown) => void;
}

interface Entry {
  value: DiskUsage;
  at: number;
}

/** A stale-while-revalidate cache of DiskUsage per key with serialized computation. */
export class UsageCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<DiskUsage>>();
  /** Bumped by forget(), so a walk that finishes after it does not resurrect the entry. */
  private readonly generation = new Map<string, number>();
  private tail: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: UsageCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The usage of `key`: cached if fresh, cached-and-refreshing if stale, measured if unknown. */
  async get(key: string): Promise<DiskUsage> {
    const e = this.entries.get(key);
    if (e && this.now() - e.at < this.options.maxAgeMs) return e.value;
    if (e) {
      this.refresh(key).catch((err: unknown) => this.options.onError?.(key, err));
      return e.value;
    }
    return this.refresh(key);
  }

  /** Drops a key (its directory is gone). */
  forget(key: string): void {
    this.entries.delete(key);
    if (this.inflight.has(key)) this.generation.set(key, (this.generation.get(key) ?? 0) + 1);
    else this.generation.delete(key);
  }

  /** Number of walks queued or running (for tests and diagnostics). */
  get pending(): number {
    return this.inflight.size;
  }

  private refresh(key: string): Promise<DiskUsage> {
    const running = this.inflight.get(key);
    if (running) return running;
    const gen = this.generation.get(key) ?? 0;
    const run = this.tail.then(async () => {
      const value = await this.options.compute(key);
      if ((this.generation.get(key) ?? 0) === gen) this.entries.set(key, { value, at: this.now() });
      return value;
    });
    this.tail = run.catch(() => undefined);
    this.inflight.set(key, run);
    const clear = (): void => {
      if (this.inflight.get(key) === run) this.inflight.delete(key);
    };
    run.then(clear, clear);
    return run;
  }
}
