import type { RecordLocation } from './record-locations';
import { isIncomplete, type StoredLayer } from './store-records';

/** What decides whether a volatile writable layer lost its container. */
export interface OrphanQuery {
  layers: readonly StoredLayer[];
  locationOf: (id: string) => RecordLocation | undefined;
  /** Writable layers of every container of the store (any tool's). */
  containerLayers: Iterable<string>;
  /** Top and mapped layers of every image. */
  imageLayers: Iterable<string>;
}

/**
 * Complete volatile layers no container names, no layer sits on and no image uses: what a crash
 * leaves when a Volatile container's layer record reached the disk and its container record did
 * not (both are written without fsync, so either may be lost alone). Durable layers are never
 * orphans here: podman's pulls commit layers well before their image record. Incomplete layers
 * are the layer store's to delete.
 */
export function orphanVolatileLayers(q: OrphanQuery): string[] {
  const used = new Set<string>([...q.containerLayers, ...q.imageLayers]);
  for (const l of q.layers) if (l.parent) used.add(l.parent);
  return q.layers.filter((l) => q.locationOf(l.id) === 'volatile' && !isIncomplete(l) && !used.has(l.id)).map((l) => l.id);
}
