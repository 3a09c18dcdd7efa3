import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { OpContext } from '../context';
import { FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError, ResourceExhaustedError, errnoCode } from '../errors';
import { pathExists, readJsonIfExists, removeStaleTempFiles, syncDir, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import { runProgram, stderrTail } from '../process';
import { diskUsage, type DiskUsage } from './disk-usage';
import { MAX_OVERLAY_LOWERS } from './overlay';
import { unpackLayer } from './tar-unpack';

/**
 * Read-only image layers in containers/storage's overlay layout:
 *   <root>/<id>/diff         the layer's files
 *   <root>/<id>/link         26-char short name
 *   <root>/<id>/lower        "l/<short>:l/<short>…" of the layers below, uppermost first
 *   <root>/<id>/layer.json   LayerRecord, written last: a layer without it is incomplete
 *   <root>/l/<short>      -> ../<id>/diff
 * <id> is the chain ID's hex. Layers are unpacked into `<id>.incomplete-<rand>` and renamed
 * into place, so a crash leaves only things init() recognises and deletes.
 */

/** The persisted description of a complete layer. */
export interface LayerRecord {
  chainId: string;
  parentChainId?: string;
  diffId: string;
  /** Bytes of regular-file content in the layer. */
  size: number;
  createdAt: string;
}

/** What applyLayer needs; `tar` is the uncompressed layer stream. */
export interface ApplyLayerParams {
  chainId: string;
  parentChainId: string | undefined;
  diffId: string;
  tar: Readable;
}

/** Constructor options for LayerStore. */
export interface LayerStoreOptions {
  /** e.g. `<crio root>/overlay`. */
  root: string;
  log: Logger;
}

const CHAIN_ID = /^(?:sha256:)?([0-9a-f]{64})$/;
const HEX_DIR = /^[0-9a-f]{64}$/;
const STAGING_DIR = /^[0-9a-f]{64}\.incomplete-/;
const SHORT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SHORT_LEN = 26;
const RECORD = 'layer.json';

function layerHex(chainId: string): string {
  const m = CHAIN_ID.exec(chainId);
  if (!m?.[1]) throw new InvalidArgumentError(`invalid layer chain ID ${JSON.stringify(chainId)}`);
  return m[1];
}

function isLayerRecord(v: unknown): v is LayerRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.chainId === 'string' &&
    typeof r.diffId === 'string' &&
    typeof r.size === 'number' &&
    typeof r.createdAt === 'string' &&
    (r.parentChainId === undefined || typeof r.parentChainId === 'string')
  );
}

/** Content-addressed store of unpacked image layers (structurally a LayerSink for image pulls). */
export class LayerStore {
  /** Absolute store root; overlay mounts run here so `l/<short>` lowers resolve. */
  readonly root: string;
  private readonly log: Logger;
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(options: LayerStoreOptions) {
    this.root = path.resolve(options.root);
    this.log = options.log;
  }

  /** Creates the layout and deletes what a crash left: incomplete layers and dangling links. */
  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'l'), { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(this.root)) {
      const dir = path.join(this.root, name);
      if (STAGING_DIR.test(name)) {
        this.log.info('removing incomplete layer', { dir });
        await fs.rm(dir, { recursive: true, force: true });
      } else if (HEX_DIR.test(name)) {
        if (!(await pathExists(path.join(dir, RECORD)))) {
          this.log.info('removing incomplete layer', { chainId: `sha256:${name}`, dir });
          await fs.rm(dir, { recursive: true, force: true });
          continue;
        }
        await removeStaleTempFiles(dir);
        await this.repairLink(name);
      }
    }
    const links = path.join(this.root, 'l');
    for (const name of await fs.readdir(links)) {
      const link = path.join(links, name);
      if (!(await targetExists(link))) {
        this.log.info('removing dangling layer link', { link });
        await fs.rm(link, { force: true });
      }
    }
  }

  /** True when the layer is complete. */
  async hasLayer(chainId: string): Promise<boolean> {
    return pathExists(path.join(this.root, layerHex(chainId), RECORD));
  }

  /** The layer's record, or undefined when it is not (completely) present. */
  async getLayer(chainId: string): Promise<LayerRecord | undefined> {
    const file = path.join(this.root, layerHex(chainId), RECORD);
    const v = await readJsonIfExists(file);
    if (v === undefined) return undefined;
    if (!isLayerRecord(v)) throw new InternalError(`layer record ${file} is malformed`);
    return v;
  }

  /** Records of all complete layers. */
  async listLayers(): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (const name of await fs.readdir(this.root)) {
      if (!HEX_DIR.test(name)) continue;
      const rec = await this.getLayer(name);
      if (rec) out.push(rec);
    }
    return out;
  }

  /**
   * Unpacks `tar` as layer `chainId` on top of `parentChainId`. Idempotent; concurrent calls
   * for one layer share the work. When the layer already exists `tar` is destroyed unread; on
   * any failure (including `tar` erroring) nothing of the layer is left behind.
   */
  async applyLayer(params: ApplyLayerParams, ctx: OpContext): Promise<void> {
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
    const out: string[] = [];
    let rec = await this.getLayer(chainId);
    if (!rec) throw new NotFoundError(`layer ${chainId} not found`);
    for (;;) {
      out.push(path.join(this.root, layerHex(rec.chainId), 'diff'));
      if (rec.parentChainId === undefined) return out;
      const parent: LayerRecord | undefined = await this.getLayer(rec.parentChainId);
      if (!parent) throw new InternalError(`layer ${rec.chainId} has no parent layer ${rec.parentChainId}`);
      rec = parent;
    }
  }

  /** `l/<short>` names of the layer and those below it, uppermost first (overlay lowerdir). */
  async layerLinks(chainId: string): Promise<string[]> {
    const dir = path.join(this.root, layerHex(chainId));
    if (!(await pathExists(path.join(dir, RECORD)))) throw new NotFoundError(`layer ${chainId} not found`);
    const link = (await fs.readFile(path.join(dir, 'link'), 'utf8')).trim();
    const lower = await fs.readFile(path.join(dir, 'lower'), 'utf8').catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') return ''; // base layer
      throw err;
    });
    return [`l/${link}`, ...lower.trim().split(':').filter((s) => s !== '')];
  }

  /** Removes a layer; a missing layer is fine, a layer other layers sit on is refused. */
  async removeLayer(chainId: string): Promise<void> {
    const hex = layerHex(chainId);
    for (let running = this.inflight.get(hex); running; running = this.inflight.get(hex)) {
      await running.catch(() => undefined);
    }
    const dir = path.join(this.root, hex);
    if (!(await pathExists(dir))) return;
    const children = (await this.listLayers()).filter((r) => r.parentChainId !== undefined && layerHex(r.parentChainId) === hex);
    if (children.length > 0) {
      throw new FailedPreconditionError(`layer ${chainId} is the parent of layer ${children[0]?.chainId ?? ''}`);
    }
    const link = await fs.readFile(path.join(dir, 'link'), 'utf8').catch(() => '');
    // Record first: if we crash midway, init() sees an incomplete layer and finishes the job.
    await fs.rm(path.join(dir, RECORD), { force: true });
    if (link.trim() !== '') await fs.rm(path.join(this.root, 'l', link.trim()), { force: true });
    await fs.rm(dir, { recursive: true, force: true });
    this.log.info('layer removed', { chainId });
  }

  /** Disk space used by the whole store. */
  async usage(): Promise<DiskUsage> {
    return diskUsage(this.root);
  }

  private async apply(hex: string, params: ApplyLayerParams, ctx: OpContext): Promise<void> {
    const { chainId, parentChainId, diffId, tar } = params;
    const started = Date.now();
    let lowerLinks: string[] = [];
    try {
      if (await this.hasLayer(chainId)) {
        tar.destroy();
        return;
      }
      if (parentChainId !== undefined) {
        await this.inflight.get(layerHex(parentChainId))?.catch(() => undefined);
        if (!(await this.hasLayer(parentChainId))) {
          throw new FailedPreconditionError(`parent layer ${parentChainId} of layer ${chainId} is not present`);
        }
        lowerLinks = await this.layerLinks(parentChainId);
        if (lowerLinks.length >= MAX_OVERLAY_LOWERS) {
          throw new ResourceExhaustedError(`layer ${chainId} would sit on ${lowerLinks.length} layers, the limit is ${MAX_OVERLAY_LOWERS}`);
        }
      }
    } catch (err) {
      tar.destroy();
      throw err;
    }
    const final = path.join(this.root, hex);
    const staging = `${final}.incomplete-${randomBytes(6).toString('hex')}`;
    const short = await this.newShortName();
    const linkPath = path.join(this.root, 'l', short);
    let renamed = false;
    try {
      await fs.mkdir(staging, { mode: 0o700 });
      await fs.mkdir(path.join(staging, 'diff'), { mode: 0o755 });
      const { bytes, entries } = await unpackLayer(tar, path.join(staging, 'diff'), { log: ctx.log, signal: ctx.signal });
      await fs.writeFile(path.join(staging, 'link'), short);
      if (lowerLinks.length > 0) await fs.writeFile(path.join(staging, 'lower'), lowerLinks.join(':'));
      // The record promises complete content; after a power cut it must not point at torn files.
      await syncFilesystem(staging);
      await fs.rm(final, { recursive: true, force: true }); // a crash leftover without a record
      await fs.rename(staging, final);
      renamed = true;
      await fs.symlink(`../${hex}/diff`, linkPath);
      const record: LayerRecord = { chainId, ...(parentChainId !== undefined ? { parentChainId } : {}), diffId, size: bytes, createdAt: new Date().toISOString() };
      await writeJsonAtomic(path.join(final, RECORD), record);
      await syncDir(path.join(this.root, 'l'));
      await syncDir(this.root);
      ctx.log.info('layer applied', { chainId, diffId, bytes, entries, durationMs: Date.now() - started });
    } catch (err) {
      tar.destroy();
      await this.discard([staging, linkPath, ...(renamed ? [final] : [])]);
      throw err;
    }
  }

  private async discard(paths: string[]): Promise<void> {
    for (const p of paths) {
      try {
        await fs.rm(p, { recursive: true, force: true });
      } catch (err) {
        // init() removes it on the next start; the apply error is what the caller needs.
        this.log.warn('cannot remove partial layer', { path: p, err: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  private async newShortName(): Promise<string> {
    for (;;) {
      const bytes = randomBytes(SHORT_LEN);
      let name = '';
      for (const b of bytes) name += SHORT_ALPHABET[b & 31];
      if (!(await pathExists(path.join(this.root, 'l', name)))) return name;
    }
  }

  /** Recreates a complete layer's `l/` link if it went missing. */
  private async repairLink(hex: string): Promise<void> {
    const short = (await fs.readFile(path.join(this.root, hex, 'link'), 'utf8').catch(() => '')).trim();
    if (short === '' || (await pathExists(path.join(this.root, 'l', short)))) return;
    this.log.warn('recreating missing layer link', { chainId: `sha256:${hex}`, link: short });
    await fs.symlink(`../${hex}/diff`, path.join(this.root, 'l', short));
  }
}

/** Whether a symlink's target exists (stat follows it). */
async function targetExists(link: string): Promise<boolean> {
  try {
    await fs.stat(link);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR' || errnoCode(err) === 'ELOOP') return false;
    throw err;
  }
}

/** syncfs(2) through coreutils `sync -f`: Node has no syncfs, and one call beats fsync per file. */
async function syncFilesystem(p: string): Promise<void> {
  const res = await runProgram('sync', ['-f', p], { timeoutMs: 600_000 });
  if (res.exitCode !== 0) throw new InternalError(`sync -f ${p} failed: ${stderrTail(res)}`);
}
