import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { OpContext } from '../context';
import { FailedPreconditionError, InternalError, NotFoundError, ResourceExhaustedError, errnoCode } from '../errors';
import { pathExists, readJsonIfExists, removeStaleTempFiles, syncDir, writeFileAtomic, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import { treeInventory, type DiskUsage } from './disk-usage';
import { checkLayers, type LayerDamage } from './layer-check';
import { isShortName, newShortName, removeDanglingLinks, repairLink } from './layer-links';
import { LAYER_RECORD_FILE as RECORD, checkChainId, isLayerRecord, layerHex, removalOrder, type LayerRecord } from './layer-record';
import { MAX_OVERLAY_LOWERS } from './overlay';
import { removeTree } from './remove-tree';
import { syncFilesystem } from './sync-fs';
import { unpackLayer } from './tar-unpack';

export type { LayerRecord } from './layer-record';

/**
 * Read-only image layers in containers/storage's overlay layout:
 *   <root>/<id>/diff         the layer's files
 *   <root>/<id>/link         26-char short name
 *   <root>/<id>/lower        "l/<short>:l/<short>…" of the layers below, uppermost first
 *   <root>/<id>/layer.json   LayerRecord, written last: a layer without it is incomplete
 *   <root>/l/<short>      -> ../<id>/diff
 * <id> is the chain ID's hex; one layer shared by many images is unpacked once. Layers are
 * unpacked into `<id>.incomplete-<rand>` and renamed into place, so a crash leaves only things
 * init() recognises and deletes. Records are held in memory after init().
 */

/** What applyLayer needs; `tar` is the uncompressed layer stream. */
export interface ApplyLayerParams {
  chainId: string;
  parentChainId: string | undefined;
  diffId: string;
  tar: Readable;
  /**
   * Set when the parent is still being applied: the layer is unpacked meanwhile and committed
   * once this resolved (and the parent is present); a rejection fails the layer.
   */
  parentApplied?: Promise<unknown>;
}

/** Constructor options for LayerStore. */
export interface LayerStoreOptions {
  /** e.g. `<crio root>/overlay`. */
  root: string;
  log: Logger;
}

const HEX_DIR = /^[0-9a-f]{64}$/;
const STAGING_DIR = /^[0-9a-f]{64}\.incomplete-/;

/** Content-addressed store of unpacked image layers (structurally a LayerSink for image pulls). */
export class LayerStore {
  /** Absolute store root; overlay mounts run here so `l/<short>` lowers resolve. */
  readonly root: string;
  /** Layers may be unpacked while their parent is (see ApplyLayerParams.parentApplied); commits stay bottom-up. */
  readonly concurrentApply = true;
  private readonly log: Logger;
  private readonly inflight = new Map<string, Promise<void>>();
  /** Complete layers by hex ID. */
  private readonly records = new Map<string, LayerRecord>();
  private pullHolds = 0;
  private removalRefused = false;

  constructor(options: LayerStoreOptions) {
    this.root = path.resolve(options.root);
    this.log = options.log;
  }

  /** Creates the layout, loads records, deletes what a crash left: incomplete layers and dangling links. */
  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'l'), { recursive: true, mode: 0o700 });
    this.records.clear();
    for (const name of await fs.readdir(this.root)) {
      const dir = path.join(this.root, name);
      if (STAGING_DIR.test(name)) {
        this.log.info('removing incomplete layer', { dir });
        await removeTree(dir);
      } else if (HEX_DIR.test(name)) {
        const rec = await readJsonIfExists(path.join(dir, RECORD)).catch(() => undefined);
        if (!isLayerRecord(rec) || layerHex(rec.chainId) !== name) {
          this.log.info('removing incomplete layer', { chainId: `sha256:${name}`, dir });
          await this.deleteDir(name);
          continue;
        }
        await removeStaleTempFiles(dir);
        await repairLink(this.root, name, this.log);
        this.records.set(name, rec);
      }
    }
    await removeDanglingLinks(this.root, this.log);
  }

  /** True when the layer is complete. */
  async hasLayer(chainId: string): Promise<boolean> {
    return this.records.has(layerHex(chainId));
  }

  /** The layer's record, or undefined when it is not (completely) present. */
  async getLayer(chainId: string): Promise<LayerRecord | undefined> {
    return this.records.get(layerHex(chainId));
  }

  /** Records of all complete layers. */
  async listLayers(): Promise<LayerRecord[]> {
    return [...this.records.values()];
  }

  /**
   * Unpacks `tar` as layer `chainId` on top of `parentChainId`. Idempotent; concurrent calls
   * for one layer share the work. When the layer already exists `tar` is destroyed unread; on
   * any failure (including `tar` erroring) nothing of the layer is left behind.
   */
  async applyLayer(params: ApplyLayerParams, ctx: OpContext): Promise<void> {
    // The stream may fail while we wait below; unhandled, that would crash the process. The
    // unpack still sees the error: a destroyed stream keeps it and its iterator rethrows it.
    params.tar.on('error', () => undefined);
    const hex = layerHex(params.chainId);
    if (params.parentChainId !== undefined) layerHex(params.parentChainId);
    // Another call for this layer: wait for it. If it failed (its stream was bad), ours may not be.
    for (let running = this.inflight.get(hex); running; running = this.inflight.get(hex)) {
      await running.catch(() => undefined);
    }
    const run = this.apply(hex, params, ctx);
    this.inflight.set(hex, run);
    try {
      await run;
    } finally {
      if (this.inflight.get(hex) === run) this.inflight.delete(hex);
    }
  }

  /** Absolute diff directories of the layer and those below it, uppermost first. */
  async lowerDirs(chainId: string): Promise<string[]> {
    return this.chain(chainId).map((r) => path.join(this.root, layerHex(r.chainId), 'diff'));
  }

  /** Chain IDs of the layer and every layer below it, uppermost first. */
  chainOf(chainId: string): string[] {
    return this.chain(chainId).map((r) => r.chainId);
  }

  /** `l/<short>` names of the layer and those below it, uppermost first (overlay lowerdir). */
  async layerLinks(chainId: string): Promise<string[]> {
    const hex = layerHex(chainId);
    if (!this.records.has(hex)) throw new NotFoundError(`layer ${chainId} not found`);
    const dir = path.join(this.root, hex);
    const link = (await fs.readFile(path.join(dir, 'link'), 'utf8')).trim();
    const lower = await fs.readFile(path.join(dir, 'lower'), 'utf8').catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return ''; // base layer
      throw err;
    });
    return [`l/${link}`, ...lower.trim().split(':').filter((s) => s !== '')];
  }

  /**
   * Marks a pull as running until the returned function is called. Meanwhile removeLayer
   * refuses: a pull relies on layers it found present long before its image record (the only
   * thing that shows them in use) exists. LayerGc collects what was refused afterwards.
   */
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

  /** Removes a layer; a missing layer is fine, a layer other layers sit on is refused, as is any while a pull runs. */
  async removeLayer(chainId: string): Promise<void> {
    const hex = layerHex(chainId);
    if (this.pullHolds > 0 && this.records.has(hex)) {
      this.removalRefused = true;
      throw new FailedPreconditionError(`layer ${chainId} is kept while a pull runs; unused layers are collected after it`);
    }
    await this.settle(hex);
    const child = [...this.records.values()].find((r) => r.parentChainId !== undefined && layerHex(r.parentChainId) === hex);
    if (child) throw new FailedPreconditionError(`layer ${chainId} is the parent of layer ${child.chainId}`);
    if (!this.records.has(hex) && !(await pathExists(path.join(this.root, hex)))) return;
    await this.deleteDir(hex);
    this.log.info('layer removed', { chainId });
  }

  /** Removes the given layers (and any layer on top of them), uppermost first; returns what went. */
  async removeLayers(chainIds: Iterable<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const hex of removalOrder(this.records, [...chainIds].map(layerHex))) {
      const chainId = this.records.get(hex)?.chainId ?? `sha256:${hex}`;
      await this.removeLayer(chainId);
      removed.push(chainId);
    }
    return removed;
  }

  /** Checks every layer (record, directories, links, parent, content inventory); lists the damaged. */
  async check(): Promise<LayerDamage[]> {
    return checkLayers(this.root, this.records, this.log);
  }

  /** Disk space used by the layers: summed from their inventories, no walk of immutable trees. */
  async usage(): Promise<DiskUsage> {
    const total: DiskUsage = { bytes: 0, inodes: 0 };
    for (const [hex, rec] of this.records) {
      // Layers from before inventories were recorded are measured once and remembered.
      const inv = rec.inventory ?? (await treeInventory(path.join(this.root, hex, 'diff')));
      if (!rec.inventory) this.records.set(hex, { ...rec, inventory: inv });
      total.bytes += inv.bytes;
      total.inodes += inv.inodes;
    }
    return total;
  }

  /** Records from the layer down to its base layer. */
  private chain(chainId: string): LayerRecord[] {
    const out: LayerRecord[] = [];
    let rec = this.records.get(layerHex(chainId));
    if (!rec) throw new NotFoundError(`layer ${chainId} not found`);
    for (;;) {
      out.push(rec);
      if (rec.parentChainId === undefined) return out;
      const parent: LayerRecord | undefined = this.records.get(layerHex(rec.parentChainId));
      if (!parent) throw new InternalError(`layer ${rec.chainId} has no parent layer ${rec.parentChainId}`);
      rec = parent;
    }
  }

  /** The parent's links (for `lower`) once any apply of it settled; refuses a missing parent or too deep a chain. */
  private async parentLinks(chainId: string, parentChainId: string): Promise<string[]> {
    await this.settle(layerHex(parentChainId));
    if (!this.records.has(layerHex(parentChainId))) {
      throw new FailedPreconditionError(`parent layer ${parentChainId} of layer ${chainId} is not present`);
    }
    const links = await this.layerLinks(parentChainId);
    if (links.length >= MAX_OVERLAY_LOWERS) {
      throw new ResourceExhaustedError(`layer ${chainId} would sit on ${links.length} layers, the limit is ${MAX_OVERLAY_LOWERS}`);
    }
    return links;
  }

  private async settle(hex: string): Promise<void> {
    for (let running = this.inflight.get(hex); running; running = this.inflight.get(hex)) {
      await running.catch(() => undefined);
    }
  }

  private async apply(hex: string, params: ApplyLayerParams, ctx: OpContext): Promise<void> {
    const { chainId, parentChainId, diffId, tar, parentApplied } = params;
    const started = Date.now();
    // The `lower` links; undefined while a parent still being applied has none yet.
    let lowerLinks: string[] | undefined = parentChainId === undefined ? [] : undefined;
    try {
      if (this.records.has(hex)) {
        tar.destroy();
        return;
      }
      if (parentChainId !== undefined && (parentApplied === undefined || this.records.has(layerHex(parentChainId)))) {
        lowerLinks = await this.parentLinks(chainId, parentChainId);
      }
      checkChainId(chainId, parentChainId, diffId);
    } catch (err) {
      tar.destroy();
      throw err;
    }
    const final = path.join(this.root, hex);
    const staging = `${final}.incomplete-${randomBytes(6).toString('hex')}`;
    const short = await newShortName(this.root);
    const linkPath = path.join(this.root, 'l', short);
    let renamed = false;
    try {
      await fs.mkdir(staging, { mode: 0o700 });
      await fs.mkdir(path.join(staging, 'diff'), { mode: 0o755 });
      const { bytes, entries } = await unpackLayer(tar, path.join(staging, 'diff'), { log: ctx.log, signal: ctx.signal });
      const inventory = await treeInventory(path.join(staging, 'diff'));
      await fs.writeFile(path.join(staging, 'link'), short);
      if (lowerLinks !== undefined && lowerLinks.length > 0) await fs.writeFile(path.join(staging, 'lower'), lowerLinks.join(':'));
      // The record promises complete content; after a power cut it must not point at torn files.
      await syncFilesystem(staging);
      if (parentChainId !== undefined && lowerLinks === undefined) {
        // Unpacked beside its parent: it becomes a layer only on top of the committed parent.
        await parentApplied?.catch((err: unknown) => {
          throw new FailedPreconditionError(`parent layer ${parentChainId} of layer ${chainId} was not applied`, { cause: err });
        });
        lowerLinks = await this.parentLinks(chainId, parentChainId);
        // Written after the filesystem sync, so made durable by itself.
        await writeFileAtomic(path.join(staging, 'lower'), lowerLinks.join(':'));
      }
      await removeTree(final); // a crash leftover without a record
      await fs.rename(staging, final);
      renamed = true;
      await fs.symlink(`../${hex}/diff`, linkPath);
      const record: LayerRecord = { chainId, ...(parentChainId !== undefined ? { parentChainId } : {}), diffId, size: bytes, createdAt: new Date().toISOString(), inventory };
      await writeJsonAtomic(path.join(final, RECORD), record);
      await syncDir(path.join(this.root, 'l'));
      await syncDir(this.root);
      this.records.set(hex, record);
      ctx.log.info('layer applied', { chainId, diffId, bytes, entries, durationMs: Date.now() - started });
    } catch (err) {
      tar.destroy();
      await this.discard([staging, linkPath, ...(renamed ? [final] : [])]);
      throw err;
    }
  }

  /** Deletes a layer directory and its link; the record goes first so a crash midway leaves an incomplete layer. */
  private async deleteDir(hex: string): Promise<void> {
    const dir = path.join(this.root, hex);
    this.records.delete(hex);
    const link = (await fs.readFile(path.join(dir, 'link'), 'utf8').catch(() => '')).trim();
    await fs.rm(path.join(dir, RECORD), { force: true });
    if (isShortName(link)) await fs.rm(path.join(this.root, 'l', link), { force: true });
    await removeTree(dir);
  }

  private async discard(paths: string[]): Promise<void> {
    for (const p of paths) {
      try {
        await removeTree(p);
      } catch (err) {
        // init() removes it on the next start; the apply error is what the caller needs.
        this.log.warn('cannot remove partial layer', { path: p, err: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
