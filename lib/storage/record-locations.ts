/**
 * Where the records of one containers/storage store live (c/storage ≥ 1.45's "locations"): the
 * durable file (layers.json, containers.json; written with fsync) and the volatile one
 * (volatile-layers.json, volatile-containers.json; written by atomic rename without fsync), both
 * guarded by the store's one lock. A record stays where it was loaded from; only records created
 * volatile go to the volatile file; a save rewrites only the files whose subset changed. Pure: the
 * file I/O is record-file.ts's.
 */

export type RecordLocation = 'durable' | 'volatile';

/** Load order (c/storage reads its stable file first; an ID found twice keeps the first). */
export const LOCATIONS: readonly RecordLocation[] = ['durable', 'volatile'];

/** Records merged from the files of their locations. */
export interface MergedRecords<T> {
  records: T[];
  locations: Map<string, RecordLocation>;
  /** Each location's subset serialized as loaded: what a save compares against. */
  texts: Record<RecordLocation, string>;
}

/** Merges what each location's file held; a duplicate ID (never written by a sane writer) keeps the first copy. */
export function mergeLocations<T extends { id: string }>(byLocation: Record<RecordLocation, readonly T[]>): MergedRecords<T> {
  const records: T[] = [];
  const locations = new Map<string, RecordLocation>();
  const subsets: Record<RecordLocation, T[]> = { durable: [], volatile: [] };
  for (const loc of LOCATIONS) {
    for (const r of byLocation[loc]) {
      if (locations.has(r.id)) continue;
      locations.set(r.id, loc);
      records.push(r);
      subsets[loc].push(r);
    }
  }
  return { records, locations, texts: { durable: JSON.stringify(subsets.durable), volatile: JSON.stringify(subsets.volatile) } };
}

/** What saving a new set of records takes: the new locations and the files to write. */
export interface SavePlan {
  locations: Map<string, RecordLocation>;
  /** Serialized subsets of the locations whose content changed (only these files are written). */
  writes: { location: RecordLocation; text: string }[];
  texts: Record<RecordLocation, string>;
}

/**
 * Plans a save of `records`: a known record keeps its location, a new one goes to the volatile
 * file when its ID is in `volatileIds`, else to the durable one;
 * a location is written only when its serialized subset differs from what was loaded or saved.
 */
export function planSave<T extends { id: string }>(
  records: readonly T[],
  previous: ReadonlyMap<string, RecordLocation>,
  texts: Readonly<Record<RecordLocation, string>>,
  volatileIds: ReadonlySet<string>,
): SavePlan {
  const locations = new Map<string, RecordLocation>();
  const subsets: Record<RecordLocation, T[]> = { durable: [], volatile: [] };
  for (const r of records) {
    const loc = previous.get(r.id) ?? (volatileIds.has(r.id) ? 'volatile' : 'durable');
    locations.set(r.id, loc);
    subsets[loc].push(r);
  }
  const next = { durable: JSON.stringify(subsets.durable), volatile: JSON.stringify(subsets.volatile) };
  const writes = LOCATIONS.filter((loc) => next[loc] !== texts[loc]).map((location) => ({ location, text: next[location] }));
  return { locations, writes, texts: next };
}
