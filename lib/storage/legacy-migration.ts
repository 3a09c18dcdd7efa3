import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import { pathExists, readJsonIfExists } from '../fsutil';
import type { Logger } from '../log';
import type { TreeInventory } from './disk-usage';
import type { BigDataItem, ImageRecords } from './image-records';
import type { LayerStore } from './layer-store';
import { removeTree } from './remove-tree';
import { commitStaged, INVENTORY_FLAG } from './layer-commit';
import { goTime, layerIdsOf, type StoredLayer } from './store-records';

/**
 * Moves a store of crio-ts's earlier layout (`crio-images/` records and content blobs,
 * `crio-layers/<chain ID hex>/diff`) into containers/storage's, once, at start: each image's
 * layers are moved (renamed, not copied) under their c/storage layer IDs and the image is
 * recorded with its config and manifests as big data, names as its tags (or digested names).
 * What cannot be moved — an image missing a layer or a blob — stays where it was and is named in
 * the log; nothing is deleted that was not moved. The old layout kept no tar-split, so `podman
 * save` of a moved layer rebuilds its tar from the files. Writable layers of containers of the
 * old layout are the daemon's to move (they need the container's records).
 */

/** Paths of the earlier layout. */
export interface LegacyLayout {
  layers: string;
  images: string;
  containerLayers: string;
  mountCounts: string;
}

interface OldLayer {
  diffId: string;
  chainId: string;
  digest: string;
  size: number;
}

interface OldImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  manifestDigest: string;
  configDigest: string;
  layers: OldLayer[];
  pulledAt: number;
}

function isOldImage(v: unknown): v is OldImage {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.id === 'string' && Array.isArray(r.repoTags) && Array.isArray(r.repoDigests) && typeof r.configDigest === 'string' && typeof r.manifestDigest === 'string' && Array.isArray(r.layers);
}

async function readBlob(images: string, digest: string): Promise<Buffer | undefined> {
  return fs.readFile(path.join(images, 'content', 'blobs', 'sha256', digest.replace(/^sha256:/, ''))).catch(() => undefined);
}

/** Migrates what there is of the earlier layout; returns how many images moved. */
export async function migrateLegacyStore(o: { legacy: LegacyLayout; layers: LayerStore; images: ImageRecords; log: Logger }): Promise<number> {
  const recordsDir = path.join(o.legacy.images, 'images');
  let names: string[];
  try {
    names = (await fs.readdir(recordsDir)).filter((n) => n.endsWith('.json'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw err;
  }
  let moved = 0;
  for (const name of names) {
    const file = path.join(recordsDir, name);
    const doc = await readJsonIfExists(file).catch(() => undefined);
    if (!isOldImage(doc)) {
      o.log.warn('earlier-layout image record not understood; left in place', { file });
      continue;
    }
    const done = await migrateImage(doc, o).catch((err: unknown) => {
      o.log.warn('earlier-layout image not moved; left in place', { imageId: doc.id, err: err instanceof Error ? err.message : String(err) });
      return false;
    });
    if (!done) continue;
    await fs.rm(file, { force: true });
    moved++;
  }
  const left = (await fs.readdir(recordsDir).catch(() => [])).filter((n) => n.endsWith('.json'));
  if (left.length === 0) {
    await removeTree(o.legacy.images);
    // Layers no image record named were garbage in the earlier store too.
    await removeTree(o.legacy.layers);
  }
  if (moved > 0 || left.length > 0) o.log.info('earlier crio-ts store moved into containers/storage', { images: moved, leftInPlace: left.length });
  return moved;
}

async function migrateImage(img: OldImage, o: { legacy: LegacyLayout; layers: LayerStore; images: ImageRecords; log: Logger }): Promise<boolean> {
  const diffIds = img.layers.map((l) => l.diffId);
  const ids = layerIdsOf(diffIds);
  const config = await readBlob(o.legacy.images, img.configDigest);
  const manifest = await readBlob(o.legacy.images, img.manifestDigest);
  if (!config || !manifest) throw new Error('its config or manifest blob is missing');
  for (const [i, l] of img.layers.entries()) {
    const id = ids[i] ?? '';
    if (await o.layers.hasLayer(id)) continue;
    const dir = path.join(o.legacy.layers, l.chainId.replace(/^sha256:/, ''));
    const rec = (await readJsonIfExists(path.join(dir, 'layer.json')).catch(() => undefined)) as { size?: number; inventory?: TreeInventory } | undefined;
    if (!rec || !(await pathExists(path.join(dir, 'diff')))) throw new Error(`its layer ${l.chainId} is missing`);
    await adoptLayerDir(o.layers, { layerId: id, parentLayerId: ids[i - 1], diffId: l.diffId, compressedDigest: l.digest, compressedSize: l.size, size: rec.size ?? 0, diff: path.join(dir, 'diff'), inventory: rec.inventory });
    await removeTree(dir);
  }
  const bigData: BigDataItem[] = [{ key: img.configDigest, data: config }];
  const index = img.repoDigests.map((d) => d.slice(d.indexOf('@') + 1)).find((d) => d !== img.manifestDigest);
  const indexBytes = index ? await readBlob(o.legacy.images, index) : undefined;
  if (index && indexBytes) bigData.push({ key: `manifest-${index}`, data: indexBytes, digest: index });
  bigData.push({ key: `manifest-${img.manifestDigest}`, data: manifest, digest: img.manifestDigest }, { key: 'manifest', data: manifest, digest: img.manifestDigest });
  const names = img.repoTags.length > 0 ? img.repoTags : img.repoDigests.filter((d) => d.endsWith(img.manifestDigest));
  await o.images.createImage({ id: img.id, names, topLayer: ids[ids.length - 1], created: new Date(img.pulledAt), metadata: '{}', bigData });
  o.log.info('earlier-layout image moved', { imageId: img.id, layers: ids.length });
  return true;
}

/**
 * Takes over an unpacked layer of the earlier store (its `diff/` is moved, not copied). There is
 * no tar-split for it: c/storage then rebuilds a tar from the files (`podman save` of such a layer
 * gets a new digest). `size` is the earlier record's file bytes, standing in for the tar's size.
 */
async function adoptLayerDir(
  layers: LayerStore,
  p: { layerId: string; parentLayerId: string | undefined; diffId: string; compressedDigest: string; compressedSize: number; size: number; diff: string; inventory?: TreeInventory },
): Promise<void> {
  const staging = path.join(layers.staging, `${p.layerId}-adopt-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(staging, { mode: 0o700 });
  await fs.rename(p.diff, path.join(staging, 'diff'));
  const layer: StoredLayer = {
    id: p.layerId,
    ...(p.parentLayerId !== undefined ? { parent: p.parentLayerId } : {}),
    created: goTime(),
    'compressed-diff-digest': p.compressedDigest,
    'compressed-size': p.compressedSize,
    'diff-digest': p.diffId,
    'diff-size': p.size,
    flags: p.inventory ? { [INVENTORY_FLAG]: p.inventory } : {},
  };
  await commitStaged(layers.commitTarget(), { layer, tarSplit: undefined, diffModeFromParent: false }, staging);
}
