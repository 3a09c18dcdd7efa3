import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '../errors';
import { readJsonIfExists, removeStaleTempFiles, syncDir, writeJsonAtomic } from '../fsutil';
import { resolveImageId } from './image-id';
import type { ImageConfigInfo } from './manifest';
import { digestHex, formatReference, isImageId, parseReference, repositoryName, type ImageReference } from './reference';

/**
 * The local image index: one JSON record per image at `<root>/images/<id>.json`, written
 * atomically before the in-memory map changes. An image is found by ID, unique ID prefix
 * (image-id.ts), `sha256:ID`, tag or repo digest; a tag names at most one image (adding it elsewhere moves it).
 */

/** One layer of an image, bottom first. */
export interface LayerRecord {
  diffId: string;
  chainId: string;
  /** Compressed blob digest and size as in the manifest. */
  digest: string;
  size: number;
  mediaType: string;
}

/** A pulled image. */
export interface ImageRecord {
  /** Config digest hex, 64 chars without "sha256:" (CRI-O's image ID form). */
  id: string;
  repoTags: string[];
  /** `domain/path@sha256:<manifest digest>`. */
  repoDigests: string[];
  /** Manifest + config + compressed layer bytes. */
  size: number;
  manifestDigest: string;
  configDigest: string;
  layers: LayerRecord[];
  config: ImageConfigInfo;
  pulledAt: number;
}

/** What remove() did: the image as it was, and whether it is gone (vs. only untagged). */
export interface RemovedImage {
  image: ImageRecord;
  deleted: boolean;
}

const RECORD_VERSION = 1;

/** Persisted image records with name/ID lookup. Mutations are serialised. */
export class ImageStore {
  private readonly dir: string;
  private readonly images = new Map<string, ImageRecord>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.dir = path.join(root, 'images');
  }

  /** Reads every record; a tag left on two images by a crash stays with the newest pull. */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await removeStaleTempFiles(this.dir);
    this.images.clear();
    for (const name of (await fs.readdir(this.dir)).filter((n) => n.endsWith('.json'))) {
      const file = path.join(this.dir, name);
      const doc = (await readJsonIfExists(file)) as ({ version?: unknown } & ImageRecord) | undefined;
      if (!doc) continue;
      if (doc.version !== RECORD_VERSION || `${doc.id}.json` !== name) {
        throw new FailedPreconditionError(`image record ${file}: unknown version ${String(doc.version)} or id mismatch`);
      }
      const { version: _v, ...record } = doc;
      this.images.set(record.id, record);
    }
    const byAge = [...this.images.values()].sort((a, b) => b.pulledAt - a.pulledAt);
    const seen = new Set<string>();
    for (const img of byAge) {
      const kept = img.repoTags.filter((t) => !seen.has(t));
      kept.forEach((t) => seen.add(t));
      if (kept.length !== img.repoTags.length) await this.write({ ...img, repoTags: kept });
    }
  }

  /** All images, oldest pull first. */
  list(): ImageRecord[] {
    return [...this.images.values()].sort((a, b) => a.pulledAt - b.pulledAt);
  }

  /** The image with exactly this ID (hex or sha256:hex). */
  get(id: string): ImageRecord | undefined {
    return isImageId(id) ? this.images.get(digestHex(id)) : undefined;
  }

  /** Finds an image by ID, tag, repo digest or unique ID prefix (in that order, as c/storage). */
  lookup(nameOrId: string): ImageRecord | undefined {
    return this.find(nameOrId)?.image;
  }

  /** Finds an image by an already-normalised reference (tag or digest). */
  lookupReference(ref: ImageReference): ImageRecord | undefined {
    if (ref.digest !== undefined) {
      const rd = `${repositoryName(ref)}@${ref.digest}`;
      return [...this.images.values()].find((i) => i.repoDigests.includes(rd));
    }
    const tag = formatReference(ref);
    return [...this.images.values()].find((i) => i.repoTags.includes(tag));
  }

  /** Stores an image (merging names into an existing record) and takes its tags from other images. */
  add(record: ImageRecord): Promise<ImageRecord> {
    return this.serialize(async () => {
      const old = this.images.get(record.id);
      const merged: ImageRecord = old
        ? { ...record, repoTags: union(old.repoTags, record.repoTags), repoDigests: union(old.repoDigests, record.repoDigests) }
        : record;
      await this.write(merged);
      for (const other of this.images.values()) {
        if (other.id === record.id) continue;
        const kept = other.repoTags.filter((t) => !record.repoTags.includes(t));
        if (kept.length !== other.repoTags.length) await this.write({ ...other, repoTags: kept });
      }
      return merged;
    });
  }

  /**
   * Removes by tag (untag; the image goes with its last tag) or by ID / digest (the image goes).
   * Undefined when nothing matches.
   */
  remove(nameOrId: string): Promise<RemovedImage | undefined> {
    return this.serialize(async () => {
      const hit = this.find(nameOrId);
      if (!hit) return undefined;
      const { image, tag } = hit;
      if (tag !== undefined && image.repoTags.length > 1) {
        const repoTags = image.repoTags.filter((t) => t !== tag);
        const repos = new Set(repoTags.map((t) => repositoryName(parseReference(t))));
        const repoDigests = image.repoDigests.filter((d) => repos.has(d.slice(0, d.indexOf('@'))));
        await this.write({ ...image, repoTags, repoDigests });
        return { image, deleted: false };
      }
      await fs.rm(this.file(image.id), { force: true });
      await syncDir(this.dir);
      this.images.delete(image.id);
      return { image, deleted: true };
    });
  }

  private find(s: string): { image: ImageRecord; tag?: string } | undefined {
    if (s === '') return undefined;
    if (isImageId(s)) {
      const image = this.images.get(digestHex(s));
      return image ? { image } : undefined;
    }
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(s);
    } catch {
      ref = undefined;
    }
    if (ref) {
      const image = this.lookupReference(ref);
      if (image) return ref.digest !== undefined ? { image } : { image, tag: formatReference(ref) };
    }
    const id = resolveImageId(s, this.images.keys());
    const image = id === undefined ? undefined : this.images.get(id);
    return image ? { image } : undefined;
  }

  private async write(record: ImageRecord): Promise<void> {
    await writeJsonAtomic(this.file(record.id), { version: RECORD_VERSION, ...record });
    this.images.set(record.id, record);
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}
