import path from 'node:path';
import { readJsonIfExists, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import type { ContainerRecords } from './container-records';
import type { ImageRecords } from './image-records';
import type { LayerStore } from './layer-store';
import type { StoredLayer } from './store-records';

/**
 * Collection of the layers crio-ts left without a user. In a store shared with podman a layer
 * nobody references is not necessarily garbage — podman's pull commits layers well before its
 * image record, buildah keeps layers between steps — so only *candidates* are ever collected:
 * layers our pulls committed (until an image uses them) and layers an image removal of ours
 * kept because a pull of ours was running. The candidates live in `<graphroot>/crio-layer-gc.json`,
 * so a pull interrupted by a crash is cleaned at the next start. A candidate goes only if no
 * image (of any store) has it in its chain and no layer that is not a candidate sits on it;
 * collection runs under the layers lock and never while a pull of ours runs.
 */

/** Constructor options for LayerGc. */
export interface LayerGcOptions {
  layers: LayerStore;
  images: ImageRecords;
  containers: ContainerRecords;
  log: Logger;
}

/** Candidate bookkeeping and collection of unused layers. */
export class LayerGc {
  private pulls = 0;
  private deferred = false;
  private queue: Promise<unknown> = Promise.resolve();
  private candidates = new Set<string>();
  private readonly file: string;
  private loaded = false;

  constructor(private readonly options: LayerGcOptions) {
    this.file = path.join(options.layers.graphRoot, 'crio-layer-gc.json');
  }

  /** Runs a pull; collection waits for a running sweep first and is held off until the last pull ends. */
  async duringPull<T>(pull: () => Promise<T>): Promise<T> {
    this.pulls++;
    try {
      await this.queue;
      const release = this.options.layers.holdForPull();
      try {
        return await pull();
      } finally {
        release();
      }
    } finally {
      this.pulls--;
      if (this.options.layers.takeRefusedRemovals()) this.deferred = true;
      if (this.pulls === 0 && this.deferred) {
        this.deferred = false;
        this.collect().catch((err: unknown) => this.options.log.warn('layer collection failed', { err: err instanceof Error ? err.message : String(err) }));
      }
    }
  }

  /** Adds collection candidates (layers a pull committed, or an image removal kept). */
  async addCandidates(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.load();
    for (const id of ids) this.candidates.add(id);
    if (this.pulls === 0) this.deferred = true;
    await this.persist();
  }

  /** Current candidates (tests, diagnostics). */
  async pending(): Promise<string[]> {
    await this.load();
    return [...this.candidates].sort();
  }

  /** Removes every unused candidate; returns what went. While a pull runs it only notes the request. */
  collect(): Promise<string[]> {
    const run = this.queue.then(() => this.sweep());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sweep(): Promise<string[]> {
    await this.load();
    if (this.pulls > 0) {
      this.deferred = true;
      return [];
    }
    if (this.candidates.size === 0) return [];
    const { layers, images, containers } = this.options;
    const lock = layers.file.lock;
    const removed: string[] = [];
    // Only what is examined now leaves the list: layers committed meanwhile stay candidates.
    const examined = new Set(this.candidates);
    await lock.lock();
    try {
      await layers.file.reloadIfChanged();
      const all = layers.file.current();
      const used = new Set<string>();
      const keep = (id: string | undefined): void => {
        for (let cur = id; cur !== undefined && cur !== '' && !used.has(cur); cur = all.find((l) => l.id === cur)?.parent) used.add(cur);
      };
      for (const { image } of await images.list()) [image.layer, ...(image['mapped-layers'] ?? [])].forEach(keep);
      for (const c of await containers.file.read((cs) => cs)) keep(c.layer);
      for (const l of all) if (!examined.has(l.id)) keep(l.id);
      const doomed = all.filter((l) => examined.has(l.id) && !used.has(l.id));
      for (const l of byDepth(doomed, all)) {
        await layers.deleteLocked(l.id);
        removed.push(l.id);
      }
    } finally {
      lock.unlock();
    }
    for (const id of examined) this.candidates.delete(id);
    await this.persist();
    if (removed.length > 0) this.options.log.info('unused layers removed', { count: removed.length });
    return removed;
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    const doc = await readJsonIfExists(this.file).catch(() => undefined);
    if (Array.isArray(doc)) for (const id of doc) if (typeof id === 'string') this.candidates.add(id);
    this.loaded = true;
  }

  private async persist(): Promise<void> {
    // Without fsync: losing the list in a power cut only leaks a layer, as c/storage would.
    await writeJsonAtomic(this.file, [...this.candidates].sort(), 0o600, false);
  }
}

/** Layers ordered so that a layer comes before its parent. */
function byDepth(layers: readonly StoredLayer[], all: readonly StoredLayer[]): StoredLayer[] {
  const depth = (l: StoredLayer): number => {
    let n = 0;
    for (let cur: StoredLayer | undefined = l; cur?.parent; cur = all.find((x) => x.id === cur?.parent)) n++;
    return n;
  };
  return [...layers].sort((a, b) => depth(b) - depth(a));
}
