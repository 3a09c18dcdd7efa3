import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CleanupStack } from '../cleanup';
import { AlreadyExistsError, InternalError, InvalidArgumentError, NotFoundError } from '../errors';
import { pathExists, readJsonIfExists, removeStaleTempFiles, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import { diskUsage, type DiskUsage } from './disk-usage';
import type { LayerStore } from './layer-store';
import { MountCounts } from './mount-counts';
import { hostIdOf, type IdMappings } from '../idmap';
import { mountIdmappedOverlay } from './idmap-mount';
import { isMounted, listMountsUnder, mount, unmount } from './mount';
import { overlayMountSpec } from './overlay';
import { removeTree } from './remove-tree';
import { UsageCache } from './usage-cache';

/**
 * Writable container layers: `<root>/<containerId>/{diff,work,merged}` plus
 * `container-layer.json`, the record that marks the layer as complete. `merged` is an overlay
 * of the image's layers with `diff` as upper dir. Mounts are reference-counted (counts kept in
 * `mountStateDir`, reconciled with the mount table at init) and survive a daemon restart;
 * init() removes directories that never got a record and mounts nobody accounts for.
 */

/** The persisted description of a container layer. */
export interface ContainerLayerRecord {
  containerId: string;
  imageTopChainId: string;
  createdAt: string;
  /** A user-namespaced container's maps: its lower layers are mounted idmapped with them. */
  idMappings?: IdMappings;
}

/** A container layer that failed the check after an unclean shutdown. */
export interface ContainerLayerDamage {
  containerId: string;
  reason: string;
}

/** Constructor options for ContainerLayers. */
export interface ContainerLayersOptions {
  /** e.g. `<crio root>/overlay-containers`. */
  root: string;
  layerStore: LayerStore;
  log: Logger;
  /** Extra overlay options for every mount (storage.conf `mountopt`, e.g. `volatile`). */
  mountOptions?: string[];
  /** Where mount counts live; the runroot (tmpfs) in the daemon. Default `<root>/.mountpoints`. */
  mountStateDir?: string;
  /** How long a measured writable-layer usage is served before a background refresh. Default 10 s. */
  usageMaxAgeMs?: number;
}

const RECORD = 'container-layer.json';
/** The kernel's overflow id: what an id outside a user namespace's maps shows as. */
const OVERFLOW_ID = 65534;
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
  /** Layers being created: their image layers are in use before the record exists. */
  private readonly creating = new Map<string, string>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly counts: MountCounts;
  private readonly usageCache: UsageCache;

  constructor(options: ContainerLayersOptions) {
    this.root = path.resolve(options.root);
    this.layerStore = options.layerStore;
    this.log = options.log;
    this.mountOptions = options.mountOptions ?? [];
    this.counts = new MountCounts(options.mountStateDir ?? path.join(this.root, '.mountpoints'));
    this.usageCache = new UsageCache({
      compute: (id) => diskUsage(path.join(this.root, id, 'diff')),
      maxAgeMs: options.usageMaxAgeMs ?? 10_000,
      onError: (id, err) => this.log.warn('container layer usage refresh failed', { containerId: id, err: err instanceof Error ? err.message : String(err) }),
    });
  }

  /**
   * Loads records and mount counts; removes (after unmounting) directories without a record;
   * unmounts what no count accounts for and resets counts whose mount is gone (a crash between
   * the two, or a reboot). Mounts of containers with a count stay: running containers use them.
   */
  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    this.records.clear();
    await this.counts.load();
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
    await this.counts.reconcile(this.root, (id) => this.records.has(id), this.log);
  }

  /**
   * Creates and mounts (count 1) the writable layer of a container on the image's top layer;
   * with `idMappings` (a pod with its own user namespace) the image is seen through those maps.
   */
  async create(containerId: string, imageTopChainId: string, options: { idMappings?: IdMappings } = {}): Promise<{ rootfs: string }> {
    checkId(containerId);
    return this.withLock(containerId, async () => {
      if (this.records.has(containerId)) throw new AlreadyExistsError(`container layer ${containerId} already exists`);
      this.creating.set(containerId, imageTopChainId);
      const dir = path.join(this.root, containerId);
      const cleanup = new CleanupStack();
      try {
        const lowerLinks = await this.layerStore.layerLinks(imageTopChainId);
        if (await pathExists(dir)) await this.purge(dir); // left by a create that crashed before its record
        const maps = options.idMappings;
        // The runtime sets up a user-namespaced rootfs as the pod's root: it must be able to
        // traverse to `merged` (0711 lists nothing, as c/storage does for user namespaces).
        await fs.mkdir(dir, { mode: maps ? 0o711 : 0o700 });
        if (maps) await fs.chmod(this.root, 0o711);
        cleanup.add('remove container layer directory', () => this.purge(dir));
        const diff = path.join(dir, 'diff');
        await fs.mkdir(diff, { mode: 0o755 });
        // The merged root shows the upper dir's owner and mode; keep the image's, as c/storage does.
        const top = await fs.stat(path.join(this.layerStore.root, lowerLinks[0] ?? ''));
        await fs.chown(diff, maps ? (hostIdOf(maps.uids, top.uid) ?? OVERFLOW_ID) : top.uid, maps ? (hostIdOf(maps.gids, top.gid) ?? OVERFLOW_ID) : top.gid);
        await fs.chmod(diff, top.mode & 0o7777);
        await fs.mkdir(path.join(dir, 'work'), { mode: 0o700 });
        await fs.mkdir(path.join(dir, 'merged'), { mode: maps ? 0o755 : 0o700 });
        const record: ContainerLayerRecord = { containerId, imageTopChainId, createdAt: new Date().toISOString(), ...(maps ? { idMappings: maps } : {}) };
        // No fsync: only a reboot loses it, and after a reboot every container is gone and its
        // layer is removed anyway (a directory without a record by init(), one with a record by
        // the daemon's orphan cleanup, as no container record survives a reboot).
        await writeJsonAtomic(path.join(dir, RECORD), record, 0o644, false);
        // Count before mount: a crash in between leaves a count without a mount, which init() resets.
        await this.counts.set(containerId, 1);
        cleanup.add('drop mount count', () => this.counts.set(containerId, 0));
        await this.mountLayer(record, lowerLinks);
        this.records.set(containerId, record);
        cleanup.clear();
        this.log.info('container layer created', { containerId, chainId: imageTopChainId });
        return { rootfs: this.rootfs(containerId) };
      } catch (err) {
        await cleanup.run(this.log);
        throw err;
      } finally {
        this.creating.delete(containerId);
      }
    });
  }

  /** Takes a mount reference: mounts the rootfs unless it is mounted, then counts one more user. */
  async mount(containerId: string): Promise<string> {
    checkId(containerId);
    return this.withLock(containerId, async () => {
      const rec = this.records.get(containerId);
      if (!rec) throw new NotFoundError(`container layer ${containerId} not found`);
      const rootfs = this.rootfs(containerId);
      const mounted = await isMounted(rootfs);
      const before = mounted ? this.counts.get(containerId) : 0; // a count without a mount is stale
      await this.counts.set(containerId, before + 1);
      if (!mounted) {
        try {
          await this.mountLayer(rec, await this.layerStore.layerLinks(rec.imageTopChainId));
        } catch (err) {
          await this.counts.set(containerId, 0);
          throw err;
        }
      }
      return rootfs;
    });
  }

  /**
   * After a daemon restart: makes sure a live container's rootfs is mounted and counted, without
   * taking another reference when it already is.
   */
  async restoreMount(containerId: string): Promise<string> {
    checkId(containerId);
    const rootfs = this.rootfs(containerId);
    if ((await isMounted(rootfs)) && this.counts.get(containerId) > 0) return rootfs;
    return this.mount(containerId);
  }

  /** Drops a mount reference; the rootfs is unmounted (MNT_DETACH) when none is left or when `force`. */
  async unmount(containerId: string, options: { force?: boolean } = {}): Promise<void> {
    checkId(containerId);
    await this.withLock(containerId, async () => {
      const n = this.counts.get(containerId);
      if (!options.force && n > 1) {
        await this.counts.set(containerId, n - 1);
        return;
      }
      await unmount(this.rootfs(containerId), { detach: true });
      await this.counts.set(containerId, 0);
    });
  }

  /** Current mount reference count. */
  mountCount(containerId: string): number {
    return this.counts.get(containerId);
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
      this.usageCache.forget(containerId);
      await this.purge(dir);
      await this.counts.set(containerId, 0);
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

  /** Image top-layer chain IDs that container layers (existing or being created) sit on. */
  chainIdsInUse(): string[] {
    return [...[...this.records.values()].map((r) => r.imageTopChainId), ...this.creating.values()];
  }

  /** Disk space the container wrote (its upper dir), cached (see UsageCache). */
  async usage(containerId: string): Promise<DiskUsage> {
    checkId(containerId);
    if (!this.records.has(containerId)) throw new NotFoundError(`container layer ${containerId} not found`);
    return this.usageCache.get(containerId);
  }

  /** Disk space of all writable layers (ImageFsInfo's container filesystem), from the same cache. */
  async totalUsage(): Promise<DiskUsage> {
    const total: DiskUsage = { bytes: 0, inodes: 0 };
    for (const id of this.list()) {
      const u = await this.usageCache.get(id).catch(() => ({ bytes: 0, inodes: 0 }));
      total.bytes += u.bytes;
      total.inodes += u.inodes;
    }
    return total;
  }

  /** Container layers whose directories or image layers are gone (the check after an unclean shutdown). */
  async check(): Promise<ContainerLayerDamage[]> {
    const out: ContainerLayerDamage[] = [];
    for (const [id, rec] of this.records) {
      const dir = path.join(this.root, id);
      let reason: string | undefined;
      for (const sub of ['diff', 'work', 'merged']) {
        const st = await fs.lstat(path.join(dir, sub)).catch(() => undefined);
        if (!st?.isDirectory()) reason ??= `its ${sub} directory is missing`;
      }
      if (!(await this.layerStore.hasLayer(rec.imageTopChainId))) reason ??= `its image layer ${rec.imageTopChainId} is missing`;
      if (reason !== undefined) out.push({ containerId: id, reason });
    }
    return out;
  }

  /** Mounts the container's overlay; idmapped lowers (staged under `<dir>/idmap/l/`) for a user-namespaced one. */
  private async mountLayer(rec: ContainerLayerRecord, lowerLinks: string[]): Promise<void> {
    const dir = path.join(this.root, rec.containerId);
    const staging = path.join(dir, 'idmap');
    const spec = overlayMountSpec({
      layerRoot: rec.idMappings ? staging : this.layerStore.root,
      lowerLinks,
      upperDir: path.join(dir, 'diff'),
      workDir: path.join(dir, 'work'),
      target: path.join(dir, 'merged'),
      extraOptions: this.mountOptions,
    });
    if (!rec.idMappings) return mount(spec);
    const lowers = lowerLinks.map((l) => ({ source: path.join(this.layerStore.root, l), staging: l }));
    await mountIdmappedOverlay({ spec, lowers, mappings: rec.idMappings });
  }

  /** Unmounts everything below `dir`, then deletes it; never rm -rf through a live mount. */
  private async purge(dir: string): Promise<void> {
    for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
    const left = await listMountsUnder(dir);
    if (left.length > 0) throw new InternalError(`cannot remove ${dir}: ${left[0] ?? ''} is still mounted`);
    await removeTree(dir);
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
