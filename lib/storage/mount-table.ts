import path from 'node:path';
import type { Logger } from '../log';
import { hasOwnFilesystem } from '../mountinfo';
import { mountIdmappedOverlay } from './idmap-mount';
import type { LayerStore } from './layer-store';
import { ensurePrivateMount, isMounted, listMountsUnder, mount, unmount } from './mount';
import { overlayMountSpec } from './overlay';
import type { RecordFile } from './record-file';
import type { StoredMount } from './store-records';

/**
 * Writable-layer mounts counted as containers/storage counts them: `mountpoints.json` in the run
 * root (`{"id":<layer>,"path":<merged>,"count":N}`, guarded by mountpoints.lock), so a count
 * taken by us survives our restart and podman sees the rootfs as mounted. A count whose mount is
 * gone is stale (the kernel or a crash unmounted it) and starts again at one.
 */

/** What mounting needs to know of a container layer. */
export interface MountedLayer {
  layerId: string;
  idMappings?: { uids: { containerId: number; hostId: number; length: number }[]; gids: { containerId: number; hostId: number; length: number }[] };
}

/** Constructor options for MountTable. */
export interface MountTableOptions {
  layers: LayerStore;
  mounts: RecordFile<StoredMount>;
  mountOptions: string[];
  log: Logger;
}

/** Mount reference counts of writable layers, shared through mountpoints.json. */
export class MountTable {
  constructor(private readonly o: MountTableOptions) {}

  /** The merged directory of a layer. */
  target(layerId: string): string {
    return path.join(this.o.layers.home, layerId, 'merged');
  }

  /**
   * Takes a reference, mounting the rootfs unless it is mounted. Under storage.lock, as c/storage
   * mounts: the home mount is checked first, and a podman exiting meanwhile (which unmounts the
   * home when it sees no layer mounted) waits until our count is written.
   */
  async mount(rec: MountedLayer): Promise<string> {
    const target = this.target(rec.layerId);
    const layers = this.o.layers;
    if (!layers.mountHome) return this.mountCounted(rec, target);
    return layers.graphLock.withLock(async () => {
      await ensurePrivateMount(layers.home);
      return this.mountCounted(rec, target);
    });
  }

  private async mountCounted(rec: MountedLayer, target: string): Promise<string> {
    // The layers are read before mountpoints.lock is taken: c/storage takes that lock inside the
    // layers lock, never the other way round.
    const lowers = await this.lowerLinks(rec);
    return this.o.mounts.write(async (entries) => {
      // The merged dir is an overlay mount or none: its device tells, without reading mountinfo.
      const mounted = await hasOwnFilesystem(target);
      const before = mounted ? (entries.find((e) => e.id === rec.layerId)?.count ?? 0) : 0;
      if (!mounted) await this.mountLayer(rec, lowers);
      return { records: withCount(entries, rec.layerId, target, before + 1), result: target };
    });
  }

  /** The lowers of a writable layer's mount (read-only stores' by absolute path). */
  private async lowerLinks(rec: MountedLayer): Promise<string[]> {
    const links = await this.o.layers.layerLinks(rec.layerId);
    return this.o.layers.resolveLinks(links.slice(1));
  }

  /** After a restart: a live container's rootfs mounted and counted, without another reference when it already is. */
  async restore(rec: MountedLayer): Promise<string> {
    const target = this.target(rec.layerId);
    const counted = (await this.count(rec.layerId)) > 0;
    if (counted && (await hasOwnFilesystem(target))) return target;
    return this.mount(rec);
  }

  /** Drops a reference; unmounts (MNT_DETACH) at zero or when forced. */
  async unmount(rec: MountedLayer, force: boolean): Promise<void> {
    const target = this.target(rec.layerId);
    await this.o.mounts.write(async (entries) => {
      const n = entries.find((e) => e.id === rec.layerId)?.count ?? 0;
      if (!force && n > 1) return { records: withCount(entries, rec.layerId, target, n - 1), result: undefined };
      await unmount(target, { detach: true });
      return { records: withCount(entries, rec.layerId, target, 0), result: undefined };
    });
  }

  /** The layer's count (0 when none is recorded). */
  async count(layerId: string): Promise<number> {
    return this.o.mounts.read((entries) => entries.find((e) => e.id === layerId)?.count ?? 0);
  }

  /** Drops a layer's entry (it is being deleted). */
  async forget(layerId: string): Promise<void> {
    await this.o.mounts.write((entries) => (entries.some((e) => e.id === layerId) ? { records: entries.filter((e) => e.id !== layerId), result: undefined } : { result: undefined }));
  }

  /**
   * After a start, for our layers only (podman's are its own): a counted layer whose mount is
   * gone drops to zero; mounts below our layers that no count accounts for go (idmap staging,
   * a merged dir mounted by a crash between the mount and its count).
   */
  async reconcile(ours: ReadonlyMap<string, MountedLayer>): Promise<void> {
    await this.o.mounts.write(async (entries) => {
      let next = [...entries];
      for (const layerId of ours.keys()) {
        const target = this.target(layerId);
        const counted = (next.find((e) => e.id === layerId)?.count ?? 0) > 0;
        for (const m of await listMountsUnder(path.join(this.o.layers.home, layerId))) {
          if (counted && m === target) continue;
          this.o.log.info('removing stale mount', { mountpoint: m });
          await unmount(m, { detach: true });
        }
        if (counted && !(await isMounted(target))) {
          this.o.log.info('resetting mount count of an unmounted container layer', { layerId });
          next = withCount(next, layerId, target, 0);
        }
      }
      return next.length === entries.length && next.every((e, i) => e === entries[i]) ? { result: undefined } : { records: next, result: undefined };
    });
  }

  /** Mounts the overlay; a user-namespaced container's lowers are idmapped (staged under `<layer>/mapped`). */
  private async mountLayer(rec: MountedLayer, lowerLinks: string[]): Promise<void> {
    const home = this.o.layers.home;
    const dir = path.join(home, rec.layerId);
    const staging = path.join(dir, 'mapped');
    const spec = overlayMountSpec({
      layerRoot: rec.idMappings ? staging : home,
      lowerLinks,
      upperDir: path.join(dir, 'diff'),
      workDir: path.join(dir, 'work'),
      target: path.join(dir, 'merged'),
      extraOptions: this.o.mountOptions,
    });
    if (!rec.idMappings) return mount(spec);
    const lowers = lowerLinks.map((l, i) => ({ source: path.isAbsolute(l) ? l : path.join(home, l), staging: path.isAbsolute(l) ? `ro/${i}` : l }));
    await mountIdmappedOverlay({ spec, lowers, mappings: rec.idMappings });
  }
}

function withCount(entries: readonly StoredMount[], id: string, target: string, count: number): StoredMount[] {
  const rest = entries.filter((e) => e.id !== id);
  return count > 0 ? [...rest, { id, path: target, count }] : rest;
}
