import type { Logger } from '../log';
import type { ContainerLayers } from './container-layers';
import { layerHex } from './layer-record';
import type { LayerStore } from './layer-store';

/**
 * Layer reference counting and garbage collection. A layer's users are the images that list it
 * and the containers whose writable layer sits on it (directly or through layers above). The
 * counts are derived from those records whenever they are needed instead of being kept as
 * counters: a counter persisted beside the records can drift after a crash, the records cannot.
 * A layer is removed only when its count is zero, and never while a pull runs: a pull finds
 * layers present (or applies them) well before it writes the image record that uses them.
 */

/** Constructor options for LayerGc. */
export interface LayerGcOptions {
  layers: LayerStore;
  containers: ContainerLayers;
  /** The chain IDs of every stored image, one list per image. */
  imageLayers: () => Iterable<readonly string[]>;
  log: Logger;
}

/** Reference counts and collection of unused layers. */
export class LayerGc {
  private pulls = 0;
  private deferred = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: LayerGcOptions) {}

  /** Runs a pull; collection waits for a running sweep first and is held off until the last pull ends. */
  async duringPull<T>(pull: () => Promise<T>): Promise<T> {
    this.pulls++; // sweeps requested from now on wait for the last pull
    try {
      await this.queue; // a sweep already running finishes first
      const release = this.options.layers.holdForPull();
      try {
        return await pull();
      } finally {
        release();
      }
    } finally {
      this.pulls--;
      // Image removals during the pull had their layers refused by the store: collect them now.
      if (this.options.layers.takeRefusedRemovals()) this.deferred = true;
      if (this.pulls === 0 && this.deferred) {
        this.deferred = false;
        this.collect().catch((err: unknown) => this.options.log.warn('layer collection failed', { err: err instanceof Error ? err.message : String(err) }));
      }
    }
  }

  /** How many images and containers use each present layer (layers nobody uses are absent). */
  refCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    const add = (chainIds: Iterable<string>): void => {
      for (const hex of new Set([...chainIds].map(layerHex))) counts.set(`sha256:${hex}`, (counts.get(`sha256:${hex}`) ?? 0) + 1);
    };
    for (const image of this.options.imageLayers()) add(image);
    for (const top of this.options.containers.chainIdsInUse()) {
      try {
        add(this.options.layers.chainOf(top));
      } catch {
        // The container's image layers are gone (damaged store): it holds nothing to keep.
      }
    }
    return counts;
  }

  /**
   * Removes every layer no image or container uses; returns the removed chain IDs. While a pull
   * runs it only notes the request and sweeps when the last pull ends (then it returns []).
   */
  collect(): Promise<string[]> {
    const run = this.queue.then(() => this.sweep());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sweep(): Promise<string[]> {
    if (this.pulls > 0) {
      this.deferred = true;
      return [];
    }
    const counts = this.refCounts();
    const unused = (await this.options.layers.listLayers()).filter((r) => !counts.has(`sha256:${layerHex(r.chainId)}`)).map((r) => r.chainId);
    if (unused.length === 0) return [];
    // Everything above an unused layer is unused too: a user of it would count the layer below.
    const removed = await this.options.layers.removeLayers(unused);
    this.options.log.info('unused layers removed', { count: removed.length });
    return removed;
  }
}
