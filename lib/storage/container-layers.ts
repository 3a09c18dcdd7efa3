import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../errors';
import type { Logger } from '../log';
import { hostIdOf, type IdMappings } from '../idmap';
import { diskUsage, type DiskUsage } from './disk-usage';
import type { ImageRecords } from './image-records';
import { installPreparedLayerDir, prepareEmptyLayerDir, removeLayerDir } from './layer-dirs';
import type { LayerStore } from './layer-store';
import { ContainerRecords, crioMetadataOf, idMappingsOf, toStoredMap, type CrioMetadata } from './container-records';
import { MountTable } from './mount-table';
import { orphanVolatileLayers } from './orphan-layers';
import { isMounted, listMountsUnder, unmount } from './mount';
import { removeTree } from './remove-tree';
import { INCOMPLETE_FLAG, MOUNT_LABEL_FLAG, PROCESS_LABEL_FLAG, VOLATILE_FLAG, goTime, type StoredContainer, type StoredLayer } from './store-records';
import { UsageCache } from './usage-cache';

/**
 * Containers in containers/storage's container store, as CRI-O makes them: a record in
 * `overlay-containers/containers.json` (`volatile-containers.json` with `volatileRecords`, its
 * layer's in `volatile-layers.json`) with CRI-O's metadata (so `podman ps --external` lists
 * them and podman never deletes a layer they use; for the volatile files podman ≥ 4.4), a writable layer (a random ID) on the
 * image's top layer, and `userdata` directories. The rootfs is `overlay/<layer>/merged`; mounts
 * are counted in the shared mountpoints.json (mount-table.ts). Only containers with CRI-O
 * metadata are ours: list() and init() never touch podman's.
 */

/** What the daemon knows of one of its container layers. */
export interface ContainerLayerRecord {
  containerId: string;
  layerId: string;
  imageId: string;
  /** The image's top layer the writable layer sits on. */
  imageTopLayer: string | undefined;
  createdAt: string;
  idMappings?: IdMappings;
}

/** A container layer that failed the check after an unclean shutdown. */
export interface ContainerLayerDamage {
  containerId: string;
  reason: string;
}

/** What create() records for a container (CRI-O's storage.CreateContainer arguments). */
export interface NewContainer {
  imageId: string;
  /** CRI-O: the container name, plus the pod name for an infra container. */
  names: string[];
  metadata: CrioMetadata;
  /** A user-namespaced pod's maps: its lower layers are mounted idmapped with them. */
  idMappings?: IdMappings;
}

/** Constructor options for ContainerLayers. */
export interface ContainerLayersOptions {
  graphRoot: string;
  runRoot: string;
  layerStore: LayerStore;
  images: ImageRecords;
  log: Logger;
  /** Extra overlay options for every mount (storage.conf `mountopt`). */
  mountOptions?: string[];
  /** How long a measured writable-layer usage is served before a background refresh. Default 10 s. */
  usageMaxAgeMs?: number;
  /**
   * `crio-containers/` of crio-ts's earlier layout: writable layers of containers created before
   * the upgrade stay there (a running container keeps its mount) until the container is removed.
   */
  legacyRoot?: string;
  /**
   * Record new containers and their writable layers in volatile-containers.json /
   * volatile-layers.json (no fsync), as c/storage ≥ 1.45 does for CRI-O's Volatile containers.
   * Off by default: c/storage < 1.45 (Debian 12's podman 4.3) reads only containers.json and
   * layers.json, so it would not see these containers and could delete the image layers under them.
   */
  volatileRecords?: boolean;
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** The kernel's overflow id: what an id outside a user namespace's maps shows as. */
const OVERFLOW_ID = 65534;

function checkId(containerId: string): void {
  if (!CONTAINER_ID.test(containerId)) throw new InvalidArgumentError(`invalid container ID ${JSON.stringify(containerId)}`);
}

function toRecord(c: StoredContainer, layers: readonly StoredLayer[]): ContainerLayerRecord {
  const maps = idMappingsOf(c);
  return {
    containerId: c.id,
    layerId: c.layer,
    imageId: c.image,
    imageTopLayer: layers.find((l) => l.id === c.layer)?.parent,
    createdAt: c.created ?? '',
    ...(maps ? { idMappings: maps } : {}),
  };
}

/** The daemon's containers in the shared container store and their mounts. */
export class ContainerLayers {
  readonly store: ContainerRecords;
  private readonly layers: LayerStore;
  private readonly images: ImageRecords;
  private readonly log: Logger;
  private readonly records = new Map<string, ContainerLayerRecord>();
  /** Image top layers of containers being created: in use before their record exists. */
  private readonly creating = new Map<string, string>();
  private readonly mounts: MountTable;
  private readonly usageCache: UsageCache;
  private readonly legacyRoot: string | undefined;
  private readonly volatileRecords: boolean;

  constructor(options: ContainerLayersOptions) {
    this.volatileRecords = options.volatileRecords ?? false;
    this.layers = options.layerStore;
    this.images = options.images;
    this.log = options.log;
    this.store = new ContainerRecords(options.graphRoot, options.runRoot);
    this.legacyRoot = options.legacyRoot;
    this.mounts = new MountTable({ layers: options.layerStore, mounts: this.store.mounts, mountOptions: options.mountOptions ?? [], log: options.log });
    this.usageCache = new UsageCache({
      compute: (id) => diskUsage(path.join(this.layers.home, this.records.get(id)?.layerId ?? id, 'diff')),
      maxAgeMs: options.usageMaxAgeMs ?? 10_000,
      onError: (id, err) => this.log.warn('container layer usage refresh failed', { containerId: id, err: err instanceof Error ? err.message : String(err) }),
    });
  }

  /**
   * Loads our containers; drops those whose writable layer is gone (a crash mid-create: the
   * incomplete layer was deleted on load); reconciles mount counts with the mount table.
   */
  async init(): Promise<void> {
    await this.store.init();
    this.records.clear();
    const lock = this.layers.file.lock;
    await lock.lock();
    try {
      await this.layers.file.reloadIfChanged();
      const layers = this.layers.file.current();
      await this.store.file.write((containers) => {
        const keep: StoredContainer[] = [];
        for (const c of containers) {
          if (crioMetadataOf(c) && !layers.some((l) => l.id === c.layer)) {
            this.log.info('removing container whose writable layer is gone', { containerId: c.id, layerId: c.layer });
            continue;
          }
          keep.push(c);
          if (crioMetadataOf(c)) this.records.set(c.id, toRecord(c, layers));
        }
        return keep.length === containers.length ? { result: undefined } : { records: keep, result: undefined };
      });
      await this.dropOrphanVolatileLayers();
      await this.mounts.reconcile(new Map([...this.records.values()].map((r) => [r.layerId, r])));
    } finally {
      lock.unlock();
    }
  }

  /** Creates the container (record, writable layer, directories) and mounts its rootfs (count 1). */
  async create(containerId: string, n: NewContainer): Promise<{ rootfs: string; layerId: string }> {
    checkId(containerId);
    const image = await this.images.get(n.imageId);
    if (!image) throw new NotFoundError(`image ${n.imageId} not found`);
    const top = image.image.layer;
    this.creating.set(containerId, top ?? '');
    const layerId = randomBytes(32).toString('hex');
    const lock = this.layers.file.lock;
    try {
      await lock.lock();
      try {
        await this.layers.file.reloadIfChanged();
        const topHome = top === undefined ? undefined : await this.layers.homeOfLocked(top);
        if (top !== undefined && topHome === undefined) throw new NotFoundError(`layer ${top} of image ${image.image.id} not found`);
        const layer: StoredLayer = { id: layerId, names: [`${n.metadata.name}-layer`], ...(top ? { parent: top } : {}), created: goTime() };
        const container: StoredContainer = {
          id: containerId,
          names: n.names,
          image: image.image.id,
          layer: layerId,
          metadata: JSON.stringify(n.metadata),
          created: goTime(),
          ...(n.idMappings ? { uidmap: toStoredMap(n.idMappings.uids), gidmap: toStoredMap(n.idMappings.gids) } : {}),
          flags: { [MOUNT_LABEL_FLAG]: '', [PROCESS_LABEL_FLAG]: '', [VOLATILE_FLAG]: true },
        };
        // The incomplete layer and the container record at once (each save is an fsync, ~2-5 ms
        // here; they do not depend on each other), and meanwhile the layer's directory in staging
        // (emptied at start, so a crash there leaves nothing in the store); it moves into the store
        // once the incomplete record is on disk, the complete layer last: a crash anywhere leaves an
        // incomplete layer (deleted with its files by the next writer) and at worst a container
        // record without its layer (dropped by init()). Another process that reads the record
        // meanwhile finds its layer incomplete, as it could before this ran the two saves at once.
        // Volatile (when enabled): the volatile files without fsync; a crash may lose either record
        // in any order, which init() settles (container without layer dropped, orphan layer deleted).
        const volatile = this.volatileRecords ? { layer: [layerId], container: [containerId] } : undefined;
        const incomplete = this.layers.file.save([...this.layers.file.current(), { ...layer, flags: { [INCOMPLETE_FLAG]: true } }], volatile ? { volatile: volatile.layer } : {});
        const record = this.store.file.write((containers) => {
          if (containers.some((c) => c.id === containerId)) throw new AlreadyExistsError(`container ${containerId} already exists in the container store`);
          const taken = containers.find((c) => c.names?.some((x) => n.names.includes(x)));
          if (taken) throw new AlreadyExistsError(`the container name ${JSON.stringify(n.names.find((x) => taken.names?.includes(x)))} is already in use by ${taken.id}`);
          return { records: [...containers, container], result: undefined, ...(volatile ? { volatile: volatile.container } : {}) };
        });
        const staging = path.join(this.layers.staging, `${layerId}-rw`);
        const prepared = prepareEmptyLayerDir(this.layers.home, layerId, top, staging, topHome);
        const [recorded, made] = await Promise.allSettled([
          record,
          Promise.allSettled([incomplete, prepared]).then(async ([saved, dir]) => {
            if (saved.status === 'fulfilled' && dir.status === 'fulfilled') return installPreparedLayerDir(this.layers.home, dir.value);
            await removeTree(staging); // the store itself is untouched
            throw [saved, dir].find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;
          }),
        ]);
        // Both settled before the cleanup below runs; the record's refusal (AlreadyExists) wins.
        if (recorded.status === 'rejected') throw recorded.reason;
        if (made.status === 'rejected') throw made.reason;
        if (n.idMappings) await this.openForUserNamespace(layerId, n.idMappings);
        // The container's directories need only its record, which is on disk: made while the
        // complete layer is saved.
        const [completed, dirs] = await Promise.allSettled([this.layers.file.save(this.layers.file.current().map((l) => (l.id === layerId ? layer : l))), this.store.makeDirs(containerId)]);
        if (completed.status === 'rejected') throw completed.reason;
        if (dirs.status === 'rejected') throw dirs.reason;
      } catch (err) {
        await this.dropLocked(containerId, layerId).catch((e: unknown) => this.log.warn('cleanup of a failed create failed', { containerId, err: String(e) }));
        throw err;
      } finally {
        lock.unlock();
      }
      const record: ContainerLayerRecord = { containerId, layerId, imageId: image.image.id, imageTopLayer: top, createdAt: goTime(), ...(n.idMappings ? { idMappings: n.idMappings } : {}) };
      this.records.set(containerId, record);
      try {
        const rootfs = await this.mounts.mount(record);
        this.log.info('container layer created', { containerId, layerId, imageId: image.image.id });
        return { rootfs, layerId };
      } catch (err) {
        await this.remove(containerId).catch(() => undefined);
        throw err;
      }
    } finally {
      this.creating.delete(containerId);
    }
  }

  /** Takes a mount reference: mounts the rootfs unless it is mounted, then counts one more user. */
  async mount(containerId: string): Promise<string> {
    return this.mounts.mount(this.require(containerId));
  }

  /**
   * After a daemon restart: makes sure a live container's rootfs is mounted and counted, without
   * another reference. A container of the earlier layout keeps the rootfs it runs on.
   */
  async restoreMount(containerId: string): Promise<string> {
    checkId(containerId);
    const legacy = this.legacyRoot && !this.records.has(containerId) ? path.join(this.legacyRoot, containerId, 'merged') : undefined;
    if (legacy && (await isMounted(legacy))) {
      this.log.warn('container runs on a writable layer of the earlier crio-ts layout; it stays there until the container is removed', { containerId, rootfs: legacy });
      return legacy;
    }
    return this.mounts.restore(this.require(containerId));
  }

  /** Drops a mount reference; the rootfs is unmounted (MNT_DETACH) when none is left or when `force`. */
  async unmount(containerId: string, options: { force?: boolean } = {}): Promise<void> {
    const rec = this.records.get(containerId);
    if (rec) await this.mounts.unmount(rec, options.force ?? false);
  }

  /** Current mount reference count. */
  async mountCount(containerId: string): Promise<number> {
    const rec = this.records.get(containerId);
    return rec ? this.mounts.count(rec.layerId) : 0;
  }

  /** Unmounts and deletes the container (layer, record, directories); a missing one is fine. */
  async remove(containerId: string): Promise<void> {
    checkId(containerId);
    const rec = this.records.get(containerId);
    const lock = this.layers.file.lock;
    await lock.lock();
    try {
      await this.layers.file.reloadIfChanged();
      const stored = await this.store.file.read((cs) => cs.find((c) => c.id === containerId));
      const layerId = stored?.layer ?? rec?.layerId;
      await this.dropLocked(containerId, layerId);
    } finally {
      lock.unlock();
    }
    this.records.delete(containerId);
    this.usageCache.forget(containerId);
    if (this.legacyRoot) await this.removeLegacy(containerId);
    this.log.info('container layer removed', { containerId });
  }

  /** Where the container's rootfs is (or will be) mounted. */
  rootfs(containerId: string): string {
    return path.join(this.layers.home, this.require(containerId).layerId, 'merged');
  }

  /** The record of one of our containers. */
  get(containerId: string): ContainerLayerRecord | undefined {
    return this.records.get(containerId);
  }

  /** IDs of our containers (those with CRI-O metadata), as loaded by init() and changed since. */
  list(): string[] {
    return [...this.records.keys()].sort();
  }

  /** Image top layers that our containers (existing or being created) sit on. */
  layersInUse(): string[] {
    return [...[...this.records.values()].flatMap((r) => (r.imageTopLayer ? [r.imageTopLayer] : [])), ...[...this.creating.values()].filter((l) => l !== '')];
  }

  /** Disk space the container wrote (its upper dir), cached (see UsageCache). */
  async usage(containerId: string): Promise<DiskUsage> {
    this.require(containerId);
    return this.usageCache.get(containerId);
  }

  /** Disk space of all our writable layers (ImageFsInfo's container filesystem), from the same cache. */
  async totalUsage(): Promise<DiskUsage> {
    const total: DiskUsage = { bytes: 0, inodes: 0 };
    for (const id of this.list()) {
      const u = await this.usageCache.get(id).catch(() => ({ bytes: 0, inodes: 0 }));
      total.bytes += u.bytes;
      total.inodes += u.inodes;
    }
    return total;
  }

  /** Our containers whose layer directories or image layers are gone (the check after an unclean shutdown). */
  async check(): Promise<ContainerLayerDamage[]> {
    const out: ContainerLayerDamage[] = [];
    for (const [id, rec] of this.records) {
      let reason: string | undefined;
      const layer = await this.layers.getLayer(rec.layerId);
      if (!layer) reason = `its writable layer ${rec.layerId} is missing`;
      else if (rec.imageTopLayer && !(await this.layers.hasLayer(rec.imageTopLayer))) reason = `its image layer ${rec.imageTopLayer} is missing`;
      else if (!(await this.layers.lowerDirs(rec.layerId).then(() => true, () => false))) reason = 'its layer links are broken';
      if (reason !== undefined) out.push({ containerId: id, reason });
    }
    return out;
  }

  /**
   * A user-namespaced container's root must reach its rootfs and own its upper dir: the layer
   * directory and the driver home become traversable (0711 lists nothing, as c/storage does),
   * the upper dir gets the image root's owner as seen through the maps, `merged` 0755.
   */
  private async openForUserNamespace(layerId: string, maps: IdMappings): Promise<void> {
    const dir = path.join(this.layers.home, layerId);
    await fs.chmod(this.layers.home, 0o711);
    await fs.chmod(dir, 0o711);
    const diff = await fs.stat(path.join(dir, 'diff'));
    await fs.chown(path.join(dir, 'diff'), hostIdOf(maps.uids, diff.uid) ?? OVERFLOW_ID, hostIdOf(maps.gids, diff.gid) ?? OVERFLOW_ID);
    await fs.chmod(path.join(dir, 'diff'), diff.mode & 0o7777);
    await fs.chmod(path.join(dir, 'merged'), 0o755);
  }

  /** Removes a container's writable layer of the earlier layout, unmounting it first; missing is fine. */
  private async removeLegacy(containerId: string): Promise<void> {
    const dir = path.join(this.legacyRoot ?? '', containerId);
    for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
    await removeTree(dir);
  }

  private require(containerId: string): ContainerLayerRecord {
    checkId(containerId);
    const rec = this.records.get(containerId);
    if (!rec) throw new NotFoundError(`container layer ${containerId} not found`);
    return rec;
  }

  /** Deletes volatile writable layers a crash left without their container (orphan-layers.ts; the caller holds the layers lock). */
  private async dropOrphanVolatileLayers(): Promise<void> {
    const file = this.layers.file;
    if (!file.current().some((l) => file.locationOf(l.id) === 'volatile')) return;
    const orphans = orphanVolatileLayers({
      layers: file.current(),
      locationOf: (id) => file.locationOf(id),
      containerLayers: await this.store.file.read((cs) => cs.map((c) => c.layer)),
      imageLayers: (await this.images.list()).flatMap(({ image }) => [image.layer ?? '', ...(image['mapped-layers'] ?? [])]),
    });
    for (const id of orphans) {
      this.log.info('removing volatile writable layer without a container', { layerId: id });
      for (const m of await listMountsUnder(path.join(this.layers.home, id))) await unmount(m, { detach: true });
      await this.mounts.forget(id);
      await this.layers.deleteLocked(id);
    }
  }

  /** Deletes the container's record, layer and directories (the caller holds the layers lock). */
  private async dropLocked(containerId: string, layerId: string | undefined): Promise<void> {
    if (layerId !== undefined) {
      const dir = path.join(this.layers.home, layerId);
      // unmount() throws for a mount that stays, so no second mountinfo read (10-25 ms on a busy node) checks.
      for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
      await this.mounts.forget(layerId);
    }
    await this.store.file.write((cs) => (cs.some((c) => c.id === containerId) ? { records: cs.filter((c) => c.id !== containerId), result: undefined } : { result: undefined }));
    if (layerId !== undefined) {
      if (this.layers.file.current().some((l) => l.id === layerId)) await this.layers.deleteLocked(layerId);
      else await removeLayerDir(this.layers.home, layerId);
    }
    await this.store.removeDirs(containerId);
  }
}
