import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, NotFoundError, errnoCode } from '../errors';
import { writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import { RecordFile } from './record-file';
import { removeTree } from './remove-tree';
import { addNames, bigDataFileName, goTime, imageDigests, isHexId, withoutNames, type StoredImage } from './store-records';

export type { StoredImage } from './store-records';

/**
 * The image store of containers/storage: `<graphroot>/overlay-images/images.json` (guarded by
 * `images.lock`) and each image's big-data items — manifests, config, signatures — as files in
 * `overlay-images/<id>/` named by bigDataFileName. Images of `additionalimagestores` are listed
 * and read, never changed. A name belongs to one image: giving it to another moves it.
 */

/** An image and the store it lives in. */
export interface LocatedImage {
  image: StoredImage;
  /** Directory holding the image's big-data files. */
  dir: string;
  readOnly: boolean;
}

/** One big-data item to store with an image. */
export interface BigDataItem {
  key: string;
  data: Buffer;
  /** Defaults to the sha256 of `data` (what c/storage records for non-manifest items and, for unsigned images, for manifests). */
  digest?: string;
}

/** What createImage writes. */
export interface NewImage {
  id: string;
  names: string[];
  topLayer: string | undefined;
  /** The image's creation time (its config's `created`), as c/image records it. */
  created: Date | undefined;
  metadata: string;
  bigData: BigDataItem[];
}

interface Store {
  dir: string;
  file: RecordFile<StoredImage>;
  readOnly: boolean;
}

/** images.json and big data of the primary store and the read-only ones. */
export class ImageRecords {
  private readonly rw: Store;
  private readonly ro: Store[];

  constructor(
    graphRoot: string,
    private readonly log: Logger,
    additionalImageStores: string[] = [],
  ) {
    const store = (root: string, readOnly: boolean): Store => {
      const dir = path.join(root, 'overlay-images');
      return { dir, file: new RecordFile<StoredImage>(path.join(dir, 'images.json'), path.join(dir, 'images.lock'), { readOnly }), readOnly };
    };
    this.rw = store(path.resolve(graphRoot), false);
    this.ro = additionalImageStores.map((r) => store(r, true));
  }

  /** The images.json lock (taken after the layers lock and before the containers lock). */
  get file(): RecordFile<StoredImage> {
    return this.rw.file;
  }

  /** Creates the directory and removes big-data directories no record names (a crash between writing them and the record). */
  async init(): Promise<void> {
    await fs.mkdir(this.rw.dir, { recursive: true, mode: 0o700 });
    await this.rw.file.write(async (records) => {
      const known = new Set(records.map((r) => r.id));
      for (const name of await fs.readdir(this.rw.dir)) {
        if (isHexId(name) && !known.has(name)) {
          this.log.info('removing image data without a record', { imageId: name });
          await removeTree(path.join(this.rw.dir, name));
        }
      }
      return { result: undefined };
    });
  }

  /** Every image, the primary store's first; an ID in several stores is listed once. */
  async list(): Promise<LocatedImage[]> {
    const out: LocatedImage[] = [];
    const seen = new Set<string>();
    for (const s of [this.rw, ...this.ro]) {
      for (const image of await s.file.read((r) => r)) {
        if (seen.has(image.id)) continue;
        seen.add(image.id);
        out.push({ image, dir: path.join(s.dir, image.id), readOnly: s.readOnly });
      }
    }
    return out;
  }

  /** c/storage's lookup in each store in turn: ID, name, unique ID prefix. */
  async get(key: string): Promise<LocatedImage | undefined> {
    for (const s of [this.rw, ...this.ro]) {
      const image = await s.file.read((r) => findImage(r, key));
      if (image) return { image, dir: path.join(s.dir, image.id), readOnly: s.readOnly };
    }
    return undefined;
  }

  /** A big-data item's bytes. */
  async bigData(img: LocatedImage, key: string): Promise<Buffer> {
    try {
      return await fs.readFile(path.join(img.dir, bigDataFileName(key)));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`image ${img.image.id} has no ${key} data`);
      throw err;
    }
  }

  /**
   * Stores a pulled image (the caller holds the layers lock): a new record, or for an ID already
   * present (pulled again, or made by podman) its missing big data and the new names. Big data
   * is written before the record, so the record never names data that is not there.
   */
  async createImage(n: NewImage): Promise<StoredImage> {
    return this.rw.file.write(async (records) => {
      const existing = records.find((r) => r.id === n.id);
      if (existing && existing.layer !== n.topLayer) {
        throw new FailedPreconditionError(`image ${n.id} already exists with another top layer (${existing.layer ?? 'none'})`);
      }
      const dir = path.join(this.rw.dir, n.id);
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const sizes: Record<string, number> = { ...existing?.['big-data-sizes'] };
      const digests: Record<string, string> = { ...existing?.['big-data-digests'] };
      const keys = [...(existing?.['big-data-names'] ?? [])];
      for (const item of n.bigData) {
        await writeFileAtomic(path.join(dir, bigDataFileName(item.key)), item.data, 0o600);
        sizes[item.key] = item.data.length;
        digests[item.key] = item.digest ?? 'sha256:' + createHash('sha256').update(item.data).digest('hex');
        if (!keys.includes(item.key)) keys.push(item.key);
      }
      const base: StoredImage = existing ?? {
        id: n.id,
        ...(n.topLayer ? { layer: n.topLayer } : {}),
        metadata: n.metadata,
        created: goTime(n.created ?? new Date()),
      };
      const image: StoredImage = { ...base, 'big-data-names': keys, 'big-data-sizes': sizes, 'big-data-digests': digests };
      if (!image.digest) {
        const first = imageDigests(image)[0];
        if (first) image.digest = firstManifestDigest(n.bigData) ?? first;
      }
      const next = existing ? records.map((r) => (r.id === n.id ? image : r)) : [...records, image];
      const named = applyAddNames(next, n.id, n.names);
      return { records: named, result: named.find((r) => r.id === n.id) as StoredImage };
    });
  }

  /** Adds names to an image (moving them from others); the caller holds the images lock. */
  addNamesLocked(id: string, names: string[]): StoredImage[] {
    return applyAddNames(this.rw.file.current(), id, names);
  }

  /** Removes one name from whichever image has it; returns the image as it was, or undefined. */
  async removeName(name: string): Promise<StoredImage | undefined> {
    return this.rw.file.write((records) => {
      const hit = records.find((r) => r.names?.includes(name));
      if (!hit) return { result: undefined };
      return { records: records.map((r) => (r.id === hit.id ? withoutNames(r, new Set([name])) : r)), result: hit };
    });
  }

  /** Deletes an image record and its big data (the caller holds the images lock exclusively). */
  async deleteLocked(id: string): Promise<void> {
    const records = this.rw.file.current();
    if (!records.some((r) => r.id === id)) return;
    await this.rw.file.save(records.filter((r) => r.id !== id));
    await removeTree(path.join(this.rw.dir, id));
  }

  /** Images of the read-only stores (safe to call while holding this store's lock). */
  async listReadOnly(): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    for (const s of this.ro) out.push(...(await s.file.read((r) => r)));
    return out;
  }

  /** Every image of every store with its top layer (for layer reference checks; caller may hold locks). */
  async topLayers(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const { image } of await this.list()) {
      for (const l of [image.layer, ...(image['mapped-layers'] ?? [])]) {
        if (l) out.set(l, [...(out.get(l) ?? []), image.id]);
      }
    }
    return out;
  }
}

/** c/storage's image lookup: ID, name, unique ID prefix. */
export function findImage(records: readonly StoredImage[], key: string): StoredImage | undefined {
  if (key === '') return undefined;
  const exact = records.find((r) => r.id === key) ?? records.find((r) => r.names?.includes(key));
  if (exact) return exact;
  const byPrefix = records.filter((r) => r.id.startsWith(key));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/** AddNames: names go to `id` (front of its history) and leave every other image. */
function applyAddNames(records: readonly StoredImage[], id: string, names: readonly string[]): StoredImage[] {
  if (names.length === 0) return [...records];
  const moving = new Set(names);
  return records.map((r) => {
    if (r.id !== id) return withoutNames(r, moving);
    let history = r['names-history'] ?? [];
    for (const name of names) history = [name, ...history.filter((h) => h !== name)];
    return { ...r, names: addNames(r.names, names), 'names-history': history };
  });
}

/** The digest c/image's first manifest write gives an image: the top-level manifest's (an index), else the instance's. */
function firstManifestDigest(items: readonly BigDataItem[]): string | undefined {
  const manifests = items.filter((i) => i.key.startsWith('manifest-'));
  return manifests[0]?.digest ?? (manifests[0] ? 'sha256:' + createHash('sha256').update(manifests[0].data).digest('hex') : undefined);
}
