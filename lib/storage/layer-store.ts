import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import type { Logger } from '../log';
import { treeInventory, type DiskUsage, type TreeInventory } from './disk-usage';
import { checkLayers, type LayerDamage } from './layer-check';
import { commitStaged, inventoryOf, unpackStaged, type CommitTarget, type LayerDecode, type LayerFacts } from './layer-commit';
import { layerLinks, removeLayerDir } from './layer-dirs';
import { removeDanglingLinks } from './layer-links';
import { getLockFile, type LockFile } from './lockfile';
import { ensurePrivateMount } from './mount';
import { RecordFile } from './record-file';
import { syncFilesystem } from './sync-fs';
import { removeTree } from './remove-tree';
import { INCOMPLETE_FLAG, isHexId, isIncomplete, layerIdOf, type StoredLayer } from './store-records';

export type { StoredLayer } from './store-records';
export { INVENTORY_FLAG, inventoryOf } from './layer-commit';

/**
 * Image layers in containers/storage's layout, shared with podman, skopeo and buildah:
 * `<graphroot>/overlay/<id>/…` (layer-dirs.ts) and `<graphroot>/overlay-layers/layers.json`
 * (plus `volatile-layers.json`, containers' writable layers written without fsync) with each
 * layer's `<id>.tar-split.gz`, guarded by `overlay-layers/layers.lock`. A pulled layer
 * is unpacked outside the lock and committed under it (layer-commit.ts). Layers of
 * `additionalimagestores` are read, never changed.
 */

/** What applyLayer needs; `tar` is the uncompressed layer stream, or the blob as `decode` says. */
export interface ApplyLayerParams extends LayerFacts {
  tar: Readable;
  /**
   * Set when `tar` is the layer blob as downloaded: the store decompresses it and checks the
   * DiffID; its chunks are then the store's once emitted (moved to the unpack worker).
   */
  decode?: LayerDecode;
  /** Set when the parent is still being applied: the layer unpacks meanwhile and commits once this resolved. */
  parentApplied?: Promise<unknown>;
}

/** Constructor options for LayerStore. */
export interface LayerStoreOptions {
  graphRoot: string;
  log: Logger;
  /** Read-only stores (storage.conf `additionalimagestores`): their layers are used, never changed. */
  additionalImageStores?: string[];
  /** Told each layer a pull commits, before it is committed (LayerGc keeps it a candidate until an image uses it). */
  onCommit?: (layerId: string) => Promise<void>;
  /**
   * Keep the driver home a private bind mount of itself, as c/storage does unless
   * `overlay.skip_mount_home` (the daemon: always, podman shares the store; tests of the store alone: no).
   */
  mountHome?: boolean;
}

/** A layer and the driver home it lives in. */
export interface LocatedLayer {
  layer: StoredLayer;
  home: string;
  readOnly: boolean;
}

interface Store {
  home: string;
  file: RecordFile<StoredLayer>;
  readOnly: boolean;
}

/** The layer store (structurally the LayerSink of image pulls). */
export class LayerStore {
  /** `<graphroot>/overlay`: the driver home; overlay mounts run here so `l/<short>` lowers resolve. */
  readonly home: string;
  readonly graphRoot: string;
  readonly concurrentApply = true;
  /** Takes layer blobs as downloaded (ApplyLayerParams.decode): unpack workers decompress them. */
  readonly decompresses = true;
  private readonly log: Logger;
  private readonly rw: Store;
  private readonly ro: Store[];
  /** Where layers are unpacked before they are committed (`<home>/crio-staging`, emptied at start). */
  readonly staging: string;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly measured = new Map<string, TreeInventory>();
  private pullHolds = 0;
  private removalRefused = false;
  private readonly onCommit: ((layerId: string) => Promise<void>) | undefined;
  /** `<graphroot>/storage.lock`: c/storage's graph lock, held while the home mount is checked and layers are mounted. */
  readonly graphLock: LockFile;
  readonly mountHome: boolean;

  constructor(options: LayerStoreOptions) {
    this.onCommit = options.onCommit;
    this.mountHome = options.mountHome ?? false;
    this.graphRoot = path.resolve(options.graphRoot);
    this.home = path.join(this.graphRoot, 'overlay');
    this.log = options.log;
    // Inside the driver home: podman makes the home a (private) bind mount of itself, and a rename
    // into it from outside would cross mounts (EXDEV).
    this.staging = path.join(this.home, 'crio-staging');
    this.graphLock = getLockFile(path.join(this.graphRoot, 'storage.lock'));
    const layersDir = path.join(this.graphRoot, 'overlay-layers');
    // volatile-layers.json: writable layers of Volatile containers (ours when enabled, podman ≥ 4.4's).
    const file = new RecordFile<StoredLayer>(path.join(layersDir, 'layers.json'), path.join(layersDir, 'layers.lock'), { volatileFile: path.join(layersDir, 'volatile-layers.json') });
    this.rw = { home: this.home, file, readOnly: false };
    this.ro = (options.additionalImageStores ?? []).map((root) => ({
      home: path.join(root, 'overlay'),
      file: new RecordFile<StoredLayer>(path.join(root, 'overlay-layers', 'layers.json'), path.join(root, 'overlay-layers', 'layers.lock'), { readOnly: true }),
      readOnly: true,
    }));
  }

  /** The layers.json lock (held in c/storage's order: layers, then images, then containers). */
  get file(): RecordFile<StoredLayer> {
    return this.rw.file;
  }

  /**
   * Creates the layout; under the lock deletes what crashes left: incomplete layers (as any
   * c/storage writer does on load), directories no record names, dangling links, our staging.
   */
  async init(): Promise<void> {
    for (const d of [path.join(this.home, 'l'), path.dirname(this.rw.file.file), path.join(this.graphRoot, 'tmp'), path.join(this.graphRoot, 'mounts')]) {
      await fs.mkdir(d, { recursive: true, mode: 0o700 });
    }
    await fs.chmod(path.join(this.home, 'l'), 0o755);
    await this.ensureHomeMounted();
    await removeTree(this.staging);
    await fs.mkdir(this.staging, { mode: 0o700 });
    await this.rw.file.write(async (records) => {
      const incomplete = records.filter(isIncomplete);
      for (const l of incomplete) {
        this.log.warn('found incomplete layer, deleting it', { layerId: l.id });
        await this.deleteLayerFiles(l.id);
      }
      const known = new Set(records.map((r) => r.id));
      for (const name of await fs.readdir(this.home)) {
        if (isHexId(name) && !known.has(name)) {
          this.log.info('removing layer directory without a record', { layerId: name });
          await removeLayerDir(this.home, name);
        }
      }
      await removeDanglingLinks(this.home, this.log);
      return incomplete.length > 0 ? { records: records.filter((r) => !isIncomplete(r)), result: undefined } : { result: undefined };
    });
  }

  /**
   * Makes the driver home a private mount point unless it is one (c/storage's MakePrivate). podman
   * unmounts it when it exits with no layer mounted and binds it again at its next start, which
   * would hide mounts made in between: so this runs under storage.lock (as podman's does), before
   * every mount of ours.
   */
  async ensureHomeMounted(): Promise<void> {
    if (!this.mountHome) return;
    await this.graphLock.withLock(() => ensurePrivateMount(this.home));
  }

  /** True when the layer is complete (in this store or a read-only one). */
  async hasLayer(id: string): Promise<boolean> {
    return (await this.getLayer(id)) !== undefined;
  }

  /** The complete layer named by ID, unique ID prefix or name, and where it lives. */
  async getLayer(id: string): Promise<LocatedLayer | undefined> {
    for (const s of [this.rw, ...this.ro]) {
      const hit = await s.file.read((records) => findLayer(records, id));
      if (hit) return { layer: hit, home: s.home, readOnly: s.readOnly };
    }
    return undefined;
  }

  /** hasLayer for a caller holding the layers lock (this store's records as loaded, read-only stores read). */
  async hasLayerLocked(id: string): Promise<boolean> {
    return (await this.homeOfLocked(id)) !== undefined;
  }

  /** The driver home a layer lives in, for a caller holding the layers lock. */
  async homeOfLocked(id: string): Promise<string | undefined> {
    if (findLayer(this.rw.file.current(), id)) return this.home;
    return this.roHomeOf(id);
  }

  /** Every complete layer of every store. */
  async listLayers(): Promise<LocatedLayer[]> {
    const out: LocatedLayer[] = [];
    for (const s of [this.rw, ...this.ro]) {
      for (const layer of await s.file.read((records) => records.filter((r) => !isIncomplete(r)))) out.push({ layer, home: s.home, readOnly: s.readOnly });
    }
    return out;
  }

  /** The layer and those below it, uppermost first (across stores). */
  async chain(id: string): Promise<LocatedLayer[]> {
    const out: LocatedLayer[] = [];
    for (let cur: string | undefined = id; cur !== undefined && cur !== ''; ) {
      const hit = await this.getLayer(cur);
      if (!hit) throw new NotFoundError(out.length === 0 ? `layer ${id} not found` : `layer ${out[out.length - 1]?.layer.id ?? ''} has no parent layer ${cur}`);
      out.push(hit);
      cur = hit.layer.parent;
    }
    return out;
  }

  /** Absolute lower directories for mounting the layer (uppermost first). */
  async lowerDirs(id: string): Promise<string[]> {
    const top = await this.getLayer(id);
    if (!top) throw new NotFoundError(`layer ${id} not found`);
    const homes = [this.home, ...this.ro.map((s) => s.home)];
    const out: string[] = [];
    for (const link of await layerLinks(top.home, top.layer.id)) {
      const found = await firstExisting(homes.map((h) => path.join(h, link)));
      if (!found) throw new FailedPreconditionError(`layer ${id}: lower ${link} is missing`);
      out.push(found);
    }
    return out;
  }

  /** Lower links as a mount in this home can name them: `l/<short>` when it is ours, else the absolute path in a read-only store. */
  async resolveLinks(links: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    for (const link of links) {
      if (await fs.stat(path.join(this.home, link)).then(() => true, () => false)) {
        out.push(link);
        continue;
      }
      const found = await firstExisting(this.ro.map((s) => path.join(s.home, link)));
      if (!found) throw new FailedPreconditionError(`lower layer ${link} is in no image store`);
      out.push(found);
    }
    return out;
  }

  /** `l/<short>` names of the layer and those below it, uppermost first (overlay lowerdir, relative to home). */
  async layerLinks(id: string): Promise<string[]> {
    const hit = await this.getLayer(id);
    if (!hit) throw new NotFoundError(`layer ${id} not found`);
    return layerLinks(hit.home, hit.layer.id);
  }

  /**
   * Unpacks `tar` as layer `layerId` on `parentLayerId`. Idempotent; concurrent calls for one
   * layer share the work; a layer another process made meanwhile wins (ours is dropped). On
   * any failure (the stream's too) nothing of the layer is left behind.
   */
  async applyLayer(params: ApplyLayerParams, ctx: OpContext): Promise<void> {
    params.tar.on('error', () => undefined); // the unpack still sees it through the stream
    if (layerIdOf(params.parentLayerId, params.diffId) !== params.layerId) {
      params.tar.destroy();
      throw new InvalidArgumentError(`layer ID ${params.layerId} does not follow from parent ${params.parentLayerId ?? '(none)'} and diff ID ${params.diffId}`);
    }
    await this.settle(params.layerId);
    const run = this.apply(params, ctx);
    this.inflight.set(params.layerId, run);
    try {
      await run;
    } finally {
      if (this.inflight.get(params.layerId) === run) this.inflight.delete(params.layerId);
    }
  }

  /** Puts every layer applied so far on disk (one syncfs, shared with concurrent callers); see LayerSink.flush. */
  flush(): Promise<void> {
    return syncFilesystem(this.home);
  }

  /** Marks a pull as running until the returned function is called: removeLayer refuses meanwhile. */
  holdForPull(): () => void {
    this.pullHolds++;
    let released = false;
    return () => {
      if (!released) this.pullHolds--;
      released = true;
    };
  }

  /** Whether removeLayer refused something since the last call (so a collection is due). */
  takeRefusedRemovals(): boolean {
    const r = this.removalRefused;
    this.removalRefused = false;
    return r;
  }

  /** Whether a pull of ours runs (removals must wait for it). */
  get pulling(): boolean {
    return this.pullHolds > 0;
  }

  /** Notes that a removal was put off for a pull. */
  noteRefusedRemoval(): void {
    this.removalRefused = true;
  }

  /**
   * Deletes a layer as c/storage's Delete does (the caller holds the layers lock exclusively
   * and has checked no image, container or layer uses it): flagged incomplete and saved first,
   * so a crash midway leaves a record the next writer deletes, then the files, then the record.
   */
  async deleteLocked(id: string): Promise<void> {
    const records = this.rw.file.current();
    const layer = records.find((r) => r.id === id);
    if (!layer) return;
    if (!isIncomplete(layer)) await this.rw.file.save(records.map((r) => (r.id === id ? { ...r, flags: { ...r.flags, [INCOMPLETE_FLAG]: true } } : r)));
    await this.deleteLayerFiles(id);
    await this.rw.file.save(this.rw.file.current().filter((r) => r.id !== id));
    this.measured.delete(id);
    this.log.info('layer removed', { layerId: id });
  }

  /** Removes a layer nothing sits on (children refused; missing is fine). Images and containers are the caller's to check. */
  async removeLayer(id: string): Promise<void> {
    if (this.pullHolds > 0) {
      this.removalRefused = true;
      throw new FailedPreconditionError(`layer ${id} is kept while a pull runs; unused layers are collected after it`);
    }
    await this.settle(id);
    await this.rw.file.write(async (records) => {
      const child = records.find((r) => r.parent === id);
      if (child) throw new FailedPreconditionError(`layer ${id} is the parent of layer ${child.id}`);
      await this.deleteLocked(id);
      return { result: undefined };
    });
  }

  /** Deletes layers and every layer on top of them, uppermost first; returns what went. */
  async removeWithDescendants(ids: readonly string[]): Promise<string[]> {
    return this.rw.file.write(async (records) => {
      const doomed = new Set(ids.filter((id) => records.some((r) => r.id === id)));
      for (let grew = true; grew; ) {
        grew = false;
        for (const r of records) if (r.parent && doomed.has(r.parent) && !doomed.has(r.id)) (doomed.add(r.id), (grew = true));
      }
      const depth = (id: string): number => {
        let n = 0;
        for (let cur = records.find((r) => r.id === id); cur?.parent; cur = records.find((r) => r.id === cur?.parent)) n++;
        return n;
      };
      const order = [...doomed].sort((a, b) => depth(b) - depth(a));
      for (const id of order) await this.deleteLocked(id);
      return { result: order };
    });
  }

  /** Checks every layer of this store (directories, links, parent, inventory); lists the damaged. */
  async check(): Promise<LayerDamage[]> {
    const records = await this.rw.file.read((r) => r.filter((l) => !isIncomplete(l)));
    const byId = new Map(records.map((l) => [l.id, { id: l.id, parent: l.parent, inventory: inventoryOf(l) }]));
    return checkLayers(this.home, byId, this.log);
  }

  /** Disk space used by the layers: recorded inventories, others measured once and remembered. */
  async usage(): Promise<DiskUsage> {
    const total: DiskUsage = { bytes: 0, inodes: 0 };
    for (const { layer, home, readOnly } of await this.listLayers()) {
      if (readOnly) continue; // another filesystem's space
      let inv = inventoryOf(layer) ?? this.measured.get(layer.id);
      if (!inv) {
        inv = await treeInventory(path.join(home, layer.id, 'diff'));
        this.measured.set(layer.id, inv);
      }
      total.bytes += inv.bytes;
      total.inodes += inv.inodes;
    }
    return total;
  }

  /** Path of a layer's tar-split file. */
  tarSplitPath(id: string): string {
    return path.join(path.dirname(this.rw.file.file), `${id}.tar-split.gz`);
  }

  private async settle(id: string): Promise<void> {
    for (let running = this.inflight.get(id); running; running = this.inflight.get(id)) await running.catch(() => undefined);
  }

  private async apply(params: ApplyLayerParams, ctx: OpContext): Promise<void> {
    const { layerId, parentLayerId, tar } = params;
    const started = Date.now();
    if (await this.hasLayer(layerId)) {
      tar.destroy();
      return;
    }
    if (parentLayerId !== undefined && params.parentApplied === undefined && !(await this.hasLayer(parentLayerId))) {
      tar.destroy();
      throw new FailedPreconditionError(`parent layer ${parentLayerId} of layer ${layerId} is not present`);
    }
    const staging = path.join(this.staging, `${layerId}-${randomBytes(6).toString('hex')}`);
    try {
      const staged = await unpackStaged(params, tar, staging, { log: ctx.log, signal: ctx.signal, ...(params.decode ? { decode: params.decode } : {}) });
      if (parentLayerId !== undefined) {
        await params.parentApplied?.catch((err: unknown) => {
          throw new FailedPreconditionError(`parent layer ${parentLayerId} of layer ${layerId} was not applied`, { cause: err });
        });
      }
      if (await commitStaged(this.commitTarget(), staged, staging)) {
        ctx.log.info('layer applied', { layerId, diffId: params.diffId, bytes: staged.bytes, entries: staged.entries, durationMs: Date.now() - started });
      }
    } catch (err) {
      tar.destroy();
      await removeTree(staging).catch((e: unknown) => this.log.warn('cannot remove partial layer', { path: staging, err: String(e) }));
      throw err;
    }
  }

  /** Where staged layers are committed (the pull's, and the earlier layout's moved in). */
  commitTarget(): CommitTarget {
    return { file: this.rw.file, home: this.home, readOnlyHomeOf: (id) => this.roHomeOf(id), tarSplitPath: (id) => this.tarSplitPath(id), onCommit: this.onCommit };
  }

  private async roHomeOf(id: string): Promise<string | undefined> {
    for (const s of this.ro) if (await s.file.read((r) => findLayer(r, id))) return s.home;
    return undefined;
  }

  /** Removes a layer's directory, link and tar-split (not its record). */
  private async deleteLayerFiles(id: string): Promise<void> {
    await removeLayerDir(this.home, id);
    await fs.rm(this.tarSplitPath(id), { force: true });
  }
}

/** c/storage's lookup: ID, then name, then unique ID prefix; incomplete layers are not found. */
export function findLayer(records: readonly StoredLayer[], key: string): StoredLayer | undefined {
  if (key === '') return undefined;
  const complete = records.filter((r) => !isIncomplete(r));
  const exact = complete.find((r) => r.id === key) ?? complete.find((r) => r.names?.includes(key));
  if (exact) return exact;
  const byPrefix = complete.filter((r) => r.id.startsWith(key));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const p of paths) {
    if (await fs.stat(p).then(() => true, () => false)) return p;
  }
  return undefined;
}
