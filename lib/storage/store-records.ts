import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors';

/**
 * The records of containers/storage (v1.43, what Debian 12's podman, skopeo and buildah use) as
 * they are stored: `overlay-layers/layers.json`, `overlay-images/images.json`,
 * `overlay-containers/containers.json` and `<runroot>/overlay-layers/mountpoints.json` hold JSON
 * arrays of these objects, keys spelled as the Go struct tags. Fields another version may add are
 * kept as they are when we rewrite a record (parse keeps every key).
 */

/** idtools.IDMap. */
export interface IdMapEntry {
  container_id: number;
  host_id: number;
  size: number;
}

/** storage.Layer. */
export interface StoredLayer {
  id: string;
  names?: string[];
  parent?: string;
  metadata?: string;
  mountlabel?: string;
  created?: string;
  'compressed-diff-digest'?: string;
  'compressed-size'?: number;
  'diff-digest'?: string;
  'diff-size'?: number;
  /** archive.Compression: 0 none, 1 bzip2, 2 gzip, 3 xz, 4 zstd. */
  compression?: number;
  uidset?: number[];
  gidset?: number[];
  flags?: Record<string, unknown>;
  uidmap?: IdMapEntry[];
  gidmap?: IdMapEntry[];
  'big-data-names'?: string[];
  [key: string]: unknown;
}

/** storage.Image. */
export interface StoredImage {
  id: string;
  digest?: string;
  names?: string[];
  'names-history'?: string[];
  layer?: string;
  'mapped-layers'?: string[];
  metadata?: string;
  'big-data-names'?: string[];
  'big-data-sizes'?: Record<string, number>;
  'big-data-digests'?: Record<string, string>;
  created?: string;
  flags?: Record<string, unknown>;
  [key: string]: unknown;
}

/** storage.Container. */
export interface StoredContainer {
  id: string;
  names?: string[];
  image: string;
  layer: string;
  metadata?: string;
  'big-data-names'?: string[];
  'big-data-sizes'?: Record<string, number>;
  'big-data-digests'?: Record<string, string>;
  created?: string;
  uidmap?: IdMapEntry[];
  gidmap?: IdMapEntry[];
  flags?: Record<string, unknown>;
  [key: string]: unknown;
}

/** One entry of mountpoints.json (layerMountPoint). */
export interface StoredMount {
  id: string;
  path: string;
  count: number;
}

/** The layer flag c/storage sets before creating or deleting a layer and clears after creating it. */
export const INCOMPLETE_FLAG = 'incomplete';
/** Container flags (store.go). */
export const VOLATILE_FLAG = 'Volatile';
export const MOUNT_LABEL_FLAG = 'MountLabel';
export const PROCESS_LABEL_FLAG = 'ProcessLabel';
export const MOUNT_OPTS_FLAG = 'MountOpts';
/** archive.Compression values c/storage records. */
export const COMPRESSION = { none: 0, bzip2: 1, gzip: 2, xz: 3, zstd: 4 } as const;
/** Big-data key prefix of manifests (images.go) and the key of the primary manifest. */
export const MANIFEST_KEY_PREFIX = 'manifest';
export const MANIFEST_KEY = 'manifest';

const HEX64 = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Whether `s` is a 64-hex ID (what every ID of these stores looks like unless a tool chose one). */
export function isHexId(s: string): boolean {
  return HEX64.test(s);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a store file's array; `what` names the file in errors; elements must have a string id. */
export function parseRecords<T extends { id: string }>(text: string, what: string): T[] {
  if (text.trim() === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`${what}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(doc)) throw new InvalidArgumentError(`${what}: not a JSON array`);
  return doc.filter((r): r is T => isObject(r) && typeof r.id === 'string' && r.id !== '');
}

/** Whether a layer carries the incomplete flag (layerHasIncompleteFlag). */
export function isIncomplete(layer: StoredLayer): boolean {
  return layer.flags?.[INCOMPLETE_FLAG] === true;
}

/**
 * The file name of a big-data item (makeBigDataBaseName): keys of only `[.0-9a-z]` as they are,
 * anything else `=` + base64 of the key.
 */
export function bigDataFileName(key: string): string {
  if (key === '') throw new InvalidArgumentError('empty big-data key');
  return /^[.0-9a-z]+$/.test(key) ? key : '=' + Buffer.from(key, 'utf8').toString('base64');
}

/**
 * An image's digests as c/storage computes them (recomputeDigests): `digest` first, then the
 * digests of every `manifest*` big-data item not seen yet, in key order.
 */
export function imageDigests(image: StoredImage): string[] {
  const out: string[] = [];
  if (image.digest) out.push(image.digest);
  for (const [key, d] of Object.entries(image['big-data-digests'] ?? {})) {
    if (key.startsWith(MANIFEST_KEY_PREFIX) && DIGEST.test(d) && !out.includes(d)) out.push(d);
  }
  return out;
}

/**
 * The ID containers/image gives the storage layer of `diffId` on top of `parentId` (storage_dest
 * commitLayer): the DiffID's hex for a base layer, else sha256(parentID + "+" + DiffID hex).
 * Identical layers get one ID whatever image they came from; the same layer on another parent
 * gets another.
 */
export function layerIdOf(parentId: string | undefined, diffId: string): string {
  if (!DIGEST.test(diffId)) throw new InvalidArgumentError(`invalid layer diff ID ${JSON.stringify(diffId)}`);
  const hex = diffId.slice('sha256:'.length);
  if (parentId === undefined || parentId === '') return hex;
  if (!HEX64.test(parentId)) throw new InvalidArgumentError(`invalid parent layer ID ${JSON.stringify(parentId)}`);
  return createHash('sha256').update(`${parentId}+${hex}`).digest('hex');
}

/** Layer IDs of a stack of DiffIDs, bottom first. */
export function layerIdsOf(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(layerIdOf(out[out.length - 1], d));
  return out;
}

/** A Go time.Time as JSON (RFC 3339, UTC). */
export function goTime(d: Date = new Date()): string {
  return d.toISOString();
}

/** Adds names (deduplicated, order kept) — applyNameOperation's add. */
export function addNames(existing: readonly string[] | undefined, names: readonly string[]): string[] {
  return [...new Set([...(existing ?? []), ...names])];
}

/** The record with `names` removed from its `names` (and the key dropped when empty). */
export function withoutNames<T extends { names?: string[] }>(record: T, names: ReadonlySet<string>): T {
  if (!record.names?.some((n) => names.has(n))) return record;
  const kept = record.names.filter((n) => !names.has(n));
  const { names: _drop, ...rest } = record;
  return (kept.length > 0 ? { ...rest, names: kept } : rest) as T;
}
