import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CleanupStack } from '../cleanup';
import { AlreadyExistsError, InternalError, InvalidArgumentError, NotFoundError } from '../errors';
import { pathExists, readJsonIfExists, removeStaleTempFiles, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import { diskUsage, type DiskUsage } from './disk-usage';
import type { LayerStore } from './layer-store';
import { isMounted, listMountsUnder, mount, unmount, type MountSpec } from './mount';
import { overlayMountSpec } from './overlay';

/**
 * Writable container layers: `<root>/<containerId>/{diff,work,merged}` plus
 * `container-layer.json`, the record that marks the layer as complete. `merged` is an overlay
 * of the image's layers with `diff` as upper dir. Mounts survive a daemon restart (running
 * containers use them); init() only removes directories that never got a record.
 */

/** The persisted description of a container layer. */
export interface ContainerLayerRecord {
  containerId: string;
  imageTopChainId: string;
  createdAt: string;
}

/** Constructor options for ContainerLayers. */
export interface ContainerLayersOptions {
  /** e.g. `<crio root>/overlay-containers`. */
  root: string;
  layerStore: LayerStore;
  log: Logger;
  /** Extra overlay options for every mount (storage.conf `mountopt`, e.g. `volatile`). */
  mountOptions?: string[];
}

const RECORD = 'container-layer.json';
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkId(containerId: string): void {
  if (!CONTAINER_ID.test(containerId)) throw new InvalidArgumentError(`invalid container ID ${JSON.stringify(containerId)}`);
}

function isRecord(v: unknown): v is ContainerLayerRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.containerId === 'string' && typeof r.imageTopChainId === 'string' && typeof r.createdAt === 'string';
}

/** Per-container writable layers and their overlay mounts. */
export class ContainerLayers {
  /** Absolute root of the container layer directories. */
  readonly root: string;
  private readonly layerStore: LayerStore;
  private readonly log: Logger;
  private readonly mountOptions: string[];
  private readonly records = new Map<string, ContainerLayerRecord>();
  private readonly locks = new Map<string, Promise<void>>();

  constructor(options: ContainerLayersOptions) {
    this.root = path.resolve(options.root);
    this.layerStore = options.layerStore;
    this.log = options.log;
    this.mountOptions = options.mountOptions ?? [];
  }

  /** Loads records; removes (after unmounting) directories without one. Existing mounts stay. */
  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    this.records.clear();
    for (const name of await fs.readdir(this.root)) {
      if (!CONTAINER_ID.test(name)) continue;
      const dir = path.join(this.root, name);
      const rec = await readJsonIfExists(path.join(dir, RECORD)).catch(() => undefined);
      if (!isRecord(rec) || rec.containerId !== name) {
        this.log.info('removing incomplete container layer', { containerId: name });
        await this.purge(dir);
        continue;
      }
      await removeStaleTempFiles(dir);
      this.records.set(name, rec);
    }
  }

  /** Creates and mounts the writable layer of a container on the image's top layer. */
  async create(containerId: string, imageTopChainId: string): Promise<{ rootfs: string }> {
    checkId(containerId);
    return this.withLock(containerId, async () => {
      if (this.records.has(containerId)) throw new AlreadyExistsError(`container layer ${containerId} already exists`);
      const lowerLinks = await this.layerStore.layerLinks(imageTopChainId);
      const dir = path.join(this.root, containerId);
      if (await pathExists(dir)) await this.purge(dir); // left by a create that crashed before its record
      const cleanup = new CleanupStack();
      try {
        await fs.mkdir(dir, { mode: 0o700 });
        cleanup.add('remove container layer directory', () => this.purge(dir));
        const diff = path.join(dir, 'diff');
        await fs.mkdir(diff, { mode: 0o755 });
        // The merged root shows the upper dir's owner and mode; keep the image's, as c/storage does.
        const top = await fs.stat(path.join(this.layerStore.root, lowerLinks[0] ?? ''));
        await fs.chown(diff, top.uid, top.gid);
        await fs.chmod(diff, top.mode & 0o7777);
        await fs.mkdir(path.join(dir, 'work'), { mode: 0o700 });
        await fs.mkdir(path.join(dir, 'merged'), { mode: 0o700 });
        const record: ContainerLayerRecord = { containerId, imageTopChainId, createdAt: new Date().toISOString() };
        await writeJsonAtomic(path.join(dir, RECORD), record);
        await mount(this.mountSpec(containerId, lowerLinks));
        this.records.set(containerId, record);
        cleanup.clear();
        this.log.info('container layer created', { containerId, chainId: imageTopChainId });
        return { rootfs: this.rootfs(containerId) };
      } catch (err) {
        await cleanup.run(this.log);
        throw err;
      }
    });
  }

  /** Mounts the container's rootfs unless it already is (after a restart or an unmount). */
  async mount(containerId: string): Promise<string> {
    checkId(containerId);
    return this.withLock(containerId, async () => {
      const rec = this.records.get(containerId);
      if (!rec) throw new NotFoundError(`container layer ${containerId} not found`);
      const rootfs = this.rootfs(containerId);
      if (await isMounted(rootfs)) return rootfs;
      await mount(this.mountSpec(containerId, await this.layerStore.layerLinks(rec.imageTopChainId)));
      return rootfs;
    });
  }

  /** Unmounts the rootfs (MNT_DETACH, like c/storage); not mounted or unknown is fine. */
  async unmount(containerId: string): Promise<void> {
    checkId(containerId);
    await this.withLock(containerId, () => unmount(this.rootfs(containerId), { detach: true }));
  }

  /** Unmounts and deletes the container layer; a missing one is fine. */
  async remove(containerId: string): Promise<void> {
    checkId(containerId);
    await this.withLock(containerId, async () => {
      const dir = path.join(this.root, containerId);
      if (!this.records.has(containerId) && !(await pathExists(dir))) return;
      // Record first: a crash midway leaves a record-less directory that init() cleans.
      await fs.rm(path.join(dir, RECORD), { force: true });
      this.records.delete(containerId);
      await this.purge(dir);
      this.log.info('container layer removed', { containerId });
    });
  }

  /** Where the container's rootfs is (or will be) mounted. */
  rootfs(containerId: string): string {
    checkId(containerId);
    return path.join(this.root, containerId, 'merged');
  }

  /** The record of a known container layer. */
  get(containerId: string): ContainerLayerRecord | undefined {
    return this.records.get(containerId);
  }

  /** IDs of all container layers (as loaded by init() and changed since). */
  list(): string[] {
    return [...this.records.keys()].sort();
  }

  /** Disk space the container wrote (its upper dir). */
  async usage(containerId: string): Promise<DiskUsage> {
    checkId(containerId);
    if (!this.records.has(containerId)) throw new NotFoundError(`container layer ${containerId} not found`);
    return diskUsage(path.join(this.root, containerId, 'diff'));
  }

  private mountSpec(containerId: string, lowerLinks: string[]): MountSpec {
    const dir = path.join(this.root, containerId);
    return overlayMountSpec({
      layerRoot: this.layerStore.root,
      lowerLinks,
      upperDir: path.join(dir, 'diff'),
      workDir: path.join(dir, 'work'),
      target: path.join(dir, 'merged'),
      extraOptions: this.mountOptions,
    });
  }

  /** Unmounts everything below `dir`, then deletes it; never rm -rf through a live mount. */
  private async purge(dir: string): Promise<void> {
    for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
    const left = await listMountsUnder(dir);
    if (left.length > 0) throw new InternalError(`cannot remove ${dir}: ${left[0] ?? ''} is still mounted`);
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** Serialises operations on one container (create/mount/unmount/remove). */
  private async withLock<T>(containerId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(containerId) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = prev.then(() => mine);
    this.locks.set(containerId, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(containerId) === tail) this.locks.delete(containerId);
    }
  }
}
