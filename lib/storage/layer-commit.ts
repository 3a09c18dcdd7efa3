import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FailedPreconditionError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import type { TreeInventory } from './disk-usage';
import { BASE_DIFF_MODE, installLayerDir, lowerFor } from './layer-dirs';
import type { RecordFile } from './record-file';
import { INCOMPLETE_FLAG, goTime, isIncomplete, type StoredLayer } from './store-records';
import { unpackInWorker } from './unpack-pool';
import type { LayerDecode } from './unpack-wire';

export type { LayerDecode } from './unpack-wire';

/**
 * Making one layer, as containers/storage's Put does on disk but with the slow part outside the
 * lock: the tar is unpacked into a staging directory (recording its tar-split), then committed
 * under layers.lock — record saved flagged `incomplete`, directory moved into place and linked,
 * tar-split written, flag cleared. A crash leaves an incomplete record (the next writer that loads
 * the store, us or podman, deletes it) or a staging directory (we delete it at start).
 */

/** Layer flag where crio-ts keeps a layer's unpacked inventory (c/storage keeps unknown flags as they are). */
export const INVENTORY_FLAG = 'crio-ts.inventory';

/** A layer unpacked into staging, ready to commit. */
export interface StagedLayer {
  layer: StoredLayer;
  tarSplit: Buffer | undefined;
  /** The tar did not set the layer root: its mode comes from the parent's, as the driver makes it. */
  diffModeFromParent: boolean;
  bytes: number;
  entries: number;
}

/** What unpackStaged records about the layer besides its tar. */
export interface LayerFacts {
  /** The storage layer ID (containers/image's rule: layerIdOf(parent, diffId)). */
  layerId: string;
  /** ID of the layer below; undefined for the base layer. */
  parentLayerId: string | undefined;
  /** Digest of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  /** The blob as the registry served it (c/storage's compressed-diff-digest/-size). */
  compressedDigest?: string;
  compressedSize?: number;
  /** c/storage's archive.Compression of the blob (0 none, 2 gzip, 4 zstd). */
  compression?: number;
}

/**
 * Unpacks `tar` (the blob as `decode` says, else the uncompressed tar) into `<staging>/diff`
 * with its tar-split, inventory and c/storage record.
 */
export async function unpackStaged(facts: LayerFacts, tar: Readable, staging: string, o: { log: Logger; signal: AbortSignal; decode?: LayerDecode }): Promise<StagedLayer> {
  await fs.mkdir(staging, { mode: 0o700 });
  // The overlay driver's mode for a diff dir the tar does not set (0555 for a base layer).
  await fs.mkdir(path.join(staging, 'diff'), { mode: BASE_DIFF_MODE });
  await fs.chmod(path.join(staging, 'diff'), BASE_DIFF_MODE);
  const {
    unpack: { bytes, entries, rootSet },
    split,
    inventory,
  } = await unpackInWorker(tar, path.join(staging, 'diff'), { log: o.log, signal: o.signal, ...(o.decode ? { decode: { ...o.decode, diffId: facts.diffId } } : {}) });
  // Not synced here: the pull syncs once before its image record (LayerStore.flush). A power
  // cut before that leaves an unclean shutdown, whose check compares each layer with the
  // inventory taken here and drops what is torn.
  const layer: StoredLayer = {
    id: facts.layerId,
    ...(facts.parentLayerId !== undefined ? { parent: facts.parentLayerId } : {}),
    created: goTime(),
    ...(facts.compressedDigest ? { 'compressed-diff-digest': facts.compressedDigest, 'compressed-size': facts.compressedSize ?? 0 } : {}),
    'diff-digest': facts.diffId,
    'diff-size': split.size,
    ...(facts.compression ? { compression: facts.compression } : {}),
    ...(split.uids.length > 0 ? { uidset: split.uids, gidset: split.gids } : {}),
    flags: { [INVENTORY_FLAG]: inventory },
  };
  return { layer, tarSplit: split.data, diffModeFromParent: !rootSet, bytes, entries };
}

/** Where a staged layer is committed. */
export interface CommitTarget {
  file: RecordFile<StoredLayer>;
  home: string;
  /** The home of a read-only store holding `id`, if one does. */
  readOnlyHomeOf(id: string): Promise<string | undefined>;
  tarSplitPath(id: string): string;
  /** Told before the layer is recorded. */
  onCommit?: (layerId: string) => Promise<void>;
}

/** Moves a staged layer into the store under the layers lock; false when another process made it meanwhile (staging then goes). */
export async function commitStaged(t: CommitTarget, staged: Pick<StagedLayer, 'layer' | 'tarSplit' | 'diffModeFromParent'>, staging: string): Promise<boolean> {
  const { layer } = staged;
  return t.file.write(async (records) => {
    if (records.some((r) => r.id === layer.id && !isIncomplete(r))) {
      await fs.rm(staging, { recursive: true, force: true });
      return { result: false };
    }
    let lower: string | undefined;
    if (layer.parent !== undefined) {
      const parentHome = records.some((r) => r.id === layer.parent && !isIncomplete(r)) ? t.home : await t.readOnlyHomeOf(layer.parent);
      if (parentHome === undefined) throw new FailedPreconditionError(`parent layer ${layer.parent} of layer ${layer.id} is not present`);
      lower = await lowerFor(parentHome, layer.id, layer.parent);
      if (staged.diffModeFromParent) await fs.chmod(path.join(staging, 'diff'), (await fs.stat(path.join(parentHome, layer.parent, 'diff'))).mode & 0o7777);
    }
    await t.onCommit?.(layer.id);
    await t.file.save([...records.filter((r) => r.id !== layer.id), { ...layer, flags: { ...layer.flags, [INCOMPLETE_FLAG]: true } }]);
    await installLayerDir(t.home, layer.id, staging, lower);
    if (staged.tarSplit) await writeFileAtomic(t.tarSplitPath(layer.id), staged.tarSplit, 0o600);
    await t.file.save(t.file.current().map((r) => (r.id === layer.id ? layer : r)));
    return { result: true };
  });
}

/** The inventory crio-ts recorded when it unpacked the layer (absent for layers others made). */
export function inventoryOf(layer: StoredLayer): TreeInventory | undefined {
  const v = layer.flags?.[INVENTORY_FLAG];
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  return typeof r.bytes === 'number' && typeof r.inodes === 'number' && typeof r.fileBytes === 'number' ? { bytes: r.bytes, inodes: r.inodes, fileBytes: r.fileBytes } : undefined;
}
