import { FailedPreconditionError, NotFoundError } from '../errors';
import type { Logger } from '../log';
import type { BigDataItem, ImageRecords, LocatedImage } from '../storage/image-records';
import type { LayerStore } from '../storage/layer-store';
import { imageDigests, MANIFEST_KEY, type StoredImage } from '../storage/store-records';
import { resolveImageId } from './image-id';
import { chainIds, parseImageConfig, parseManifest, type ImageConfigInfo } from './manifest';
import { digestHex, isImageId, parseReference, repositoryName, type ImageReference } from './reference';

/**
 * Images as the CRI sees them, read from containers/storage's image store (lib/storage), which
 * podman, skopeo and buildah share: names sorted into tags and repo digests as CRI-O does
 * (sortNamesByType + makeRepoDigests), the size c/image's storage source reports (big data +
 * signatures + every layer's uncompressed size), layers from the stored manifest and config.
 * What an image's big data says never changes, so it is parsed once per image; names are
 * read from the record every time (the record is only re-read when its lock's token moved).
 */

/** One layer of an image, bottom first. */
export interface LayerRecord {
  diffId: string;
  /** OCI chain ID (for display; storage names layers by layerId). */
  chainId: string;
  /** The storage layer's ID. */
  layerId: string;
  /** Compressed blob digest and size as in the manifest. */
  digest: string;
  size: number;
  mediaType: string;
}

/** An image in the store. */
export interface ImageRecord {
  /** Config digest hex, 64 chars (CRI-O's image ID). */
  id: string;
  /** The store's names: tags (`repo:tag`) and digested names (`repo@sha256:…`). */
  names: string[];
  repoTags: string[];
  repoDigests: string[];
  /** Bytes as c/image's storage source sizes an image. */
  size: number;
  /** The image's (per-platform) manifest digest. */
  manifestDigest: string;
  configDigest: string;
  layers: LayerRecord[];
  config: ImageConfigInfo;
  /** When the image was created (its config's date), ms since the epoch. */
  pulledAt: number;
  /** The storage layer the image's root filesystem is (undefined for an image without layers). */
  topLayer: string | undefined;
  /** True for an image of an additional (read-only) image store. */
  readOnly: boolean;
}

/** A pulled image to record. */
export interface PulledImage {
  id: string;
  /** The name it was pulled as (storeName). */
  name: string;
  topLayer: string | undefined;
  created: Date | undefined;
  /** The image's metadata JSON (c/image's storage destination state). */
  metadata: string;
  bigData: BigDataItem[];
}

/** What an image's big data yields (immutable per image ID). */
interface Parsed {
  manifestDigest: string;
  configDigest: string;
  layers: LayerRecord[];
  config: ImageConfigInfo;
  bigDataBytes: number;
  layerBytes: number;
}

/** Read access to images in the shared store, with the per-image parse cached. */
export class ImageStore {
  private readonly parsed = new Map<string, { key: string; value: Parsed }>();

  constructor(
    readonly records: ImageRecords,
    readonly layers: LayerStore,
    private readonly log: Logger,
  ) {}

  /** Every image that can be read (damaged ones are logged and left out). */
  async list(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    for (const img of await this.records.list()) {
      const r = await this.view(img).catch((err: unknown) => {
        this.log.warn('image cannot be read', { imageId: img.image.id, err: err instanceof Error ? err.message : String(err) });
        return undefined;
      });
      if (r) out.push(r);
    }
    return out;
  }

  /** The image with exactly this ID (hex or sha256:hex). */
  async get(id: string): Promise<ImageRecord | undefined> {
    if (!isImageId(id)) return undefined;
    const hit = await this.records.get(digestHex(id));
    return hit && hit.image.id === digestHex(id) ? this.view(hit) : undefined;
  }

  /**
   * Finds an image by ID, name, unique ID prefix (c/storage's lookup), trying the normalised name
   * form too; `repo@digest` also finds an image of that repository with that digest (an index's
   * or a manifest's), as c/image's storage reference resolves it.
   */
  async lookup(nameOrId: string): Promise<{ image: ImageRecord; name?: string } | undefined> {
    if (nameOrId === '') return undefined;
    // A full ID or unique ID prefix (image-id.ts: CRI-O's rule, at least 3 characters).
    const all = await this.records.list();
    const id = resolveImageId(nameOrId, all.map((i) => i.image.id));
    const byId = id === undefined ? undefined : all.find((i) => i.image.id === id);
    if (byId) return { image: await this.view(byId) };
    const ref = tryParse(nameOrId);
    if (ref?.digest !== undefined) {
      const byDigest = await this.lookupReference(ref);
      if (byDigest) return byDigest.names.includes(storeName(ref)) ? { image: byDigest, name: storeName(ref) } : { image: byDigest };
    }
    // A name as given, or normalised (`busybox:1` → `docker.io/library/busybox:1`).
    for (const key of ref ? [storeName(ref), nameOrId] : [nameOrId]) {
      const hit = all.find((i) => i.image.names?.includes(key));
      if (hit) return { image: await this.view(hit), name: key };
    }
    return undefined;
  }

  /** Finds an image by an already-normalised reference (its tag or digest). */
  async lookupReference(ref: ImageReference): Promise<ImageRecord | undefined> {
    const name = storeName(ref);
    for (const img of await this.records.list()) {
      if (img.image.names?.includes(name)) return this.view(img);
      if (ref.digest !== undefined && imageDigests(img.image).includes(ref.digest) && img.image.names?.some((n) => n.startsWith(repositoryName(ref) + ':') || n.startsWith(repositoryName(ref) + '@'))) {
        return this.view(img);
      }
    }
    return undefined;
  }

  /**
   * Records a pulled image as c/storage's CreateImage does, under the layers lock and then the
   * images lock: an image already there (pulled before, or by podman) keeps its record and gains
   * the name; the name moves from any other image.
   */
  async add(p: PulledImage): Promise<ImageRecord> {
    const lock = this.layers.file.lock;
    await lock.rlock();
    try {
      await this.layers.file.reloadIfChanged();
      if (p.topLayer !== undefined && !(await this.layers.hasLayerLocked(p.topLayer))) {
        throw new FailedPreconditionError(`image ${p.id}: its top layer ${p.topLayer} is not in the store`);
      }
      await this.records.createImage({ id: p.id, names: [p.name], topLayer: p.topLayer, created: p.created, metadata: p.metadata, bigData: p.bigData });
    } finally {
      lock.unlock();
    }
    const stored = await this.get(p.id);
    if (!stored) throw new NotFoundError(`image ${p.id} vanished right after it was stored`);
    return stored;
  }

  /** A big-data item of an image. */
  async bigData(image: ImageRecord, key: string): Promise<Buffer> {
    const hit = await this.records.get(image.id);
    if (!hit) throw new Error(`image ${image.id} is gone`);
    return this.records.bigData(hit, key);
  }

  /** Builds the CRI view of a stored image. */
  async view(img: LocatedImage): Promise<ImageRecord> {
    const p = await this.parse(img);
    const names = img.image.names ?? [];
    const { tags, digested } = sortNames(names);
    return {
      id: img.image.id,
      names,
      repoTags: [...tags].sort(),
      repoDigests: repoDigestsOf(img.image, tags, digested).sort(),
      size: p.bigDataBytes + p.layerBytes + signatureBytes(img.image),
      manifestDigest: p.manifestDigest,
      configDigest: p.configDigest,
      layers: p.layers,
      config: p.config,
      pulledAt: Date.parse(img.image.created ?? '') || 0,
      topLayer: img.image.layer,
      readOnly: img.readOnly,
    };
  }

  private async parse(img: LocatedImage): Promise<Parsed> {
    const key = JSON.stringify([img.image['big-data-digests'] ?? {}, img.image.layer ?? '']);
    const cached = this.parsed.get(img.image.id);
    if (cached?.key === key) return cached.value;
    const manifestBytes = await this.records.bigData(img, MANIFEST_KEY);
    const parsedManifest = parseManifest(manifestBytes, undefined);
    if (parsedManifest.kind !== 'manifest') throw new Error(`image ${img.image.id}: stored manifest is an index`);
    const manifest = parsedManifest.manifest;
    const configDigest = manifest.config.digest;
    const config = parseImageConfig(await this.records.bigData(img, configDigest));
    const chain = img.image.layer ? await this.layers.chain(img.image.layer) : [];
    const layerIds = chain.map((c) => c.layer.id).reverse();
    const chains = chainIds(config.diffIds);
    const layers: LayerRecord[] = manifest.layers.map((l, i) => ({
      diffId: config.diffIds[i] ?? '',
      chainId: chains[i] ?? '',
      layerId: layerIds[i] ?? '',
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
    }));
    const value: Parsed = {
      manifestDigest: img.image['big-data-digests']?.[MANIFEST_KEY] ?? '',
      configDigest,
      layers,
      config: config.config,
      bigDataBytes: Object.values(img.image['big-data-sizes'] ?? {}).reduce((n, s) => n + s, 0),
      layerBytes: chain.reduce((n, c) => n + (c.layer['diff-size'] ?? 0), 0),
    };
    this.parsed.set(img.image.id, { key, value });
    return value;
  }
}

/** The name c/image gives an image pulled as `ref`: `repo:tag`, or `repo@digest` for a digest reference. */
export function storeName(ref: ImageReference): string {
  return ref.digest !== undefined ? `${repositoryName(ref)}@${ref.digest}` : `${repositoryName(ref)}:${ref.tag ?? 'latest'}`;
}

/** CRI-O's sortNamesByType: a name ending in `@sha256:<64 hex>` is a digest, anything else a tag. */
export function sortNames(names: readonly string[]): { tags: string[]; digested: string[] } {
  const tags: string[] = [];
  const digested: string[] = [];
  for (const n of names) (n.length > 72 && n.slice(-72, -64) === '@sha256:' ? digested : tags).push(n);
  return { tags, digested };
}

/** CRI-O's makeRepoDigests: the digested names, plus each name's repository with each of the image's digests. */
function repoDigestsOf(image: StoredImage, tags: readonly string[], digested: readonly string[]): string[] {
  const digests = imageDigests(image);
  if (digests.length === 0) return [...digested];
  const out = [...digested];
  for (const name of [...tags, ...digested]) {
    const ref = tryParse(name);
    if (!ref) continue;
    for (const d of digests) {
      const rd = `${repositoryName(ref)}@${d}`;
      if (!out.includes(rd)) out.push(rd);
    }
  }
  return out;
}

/** Signature bytes c/image counts in an image's size (its metadata's signature-sizes). */
function signatureBytes(image: StoredImage): number {
  if (!image.metadata) return 0;
  try {
    const m = JSON.parse(image.metadata) as { 'signature-sizes'?: unknown };
    return Array.isArray(m['signature-sizes']) ? m['signature-sizes'].reduce((n: number, s: unknown) => n + (typeof s === 'number' ? s : 0), 0) : 0;
  } catch {
    return 0;
  }
}

function tryParse(s: string): ImageReference | undefined {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}
