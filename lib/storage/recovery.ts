import type { Logger } from '../log';
import type { ContainerLayers } from './container-layers';
import type { LayerStore } from './layer-store';

/**
 * Repair after an unclean shutdown (CRI-O's `internal_repair`, c/storage's Check + Repair):
 * damaged layers go, with the layers on top of them; images that lost a layer (or whose own
 * metadata is broken) go; containers whose writable layer is broken go. Everything else stays,
 * and the daemon starts. Images and containers are not storage's records, so the caller says
 * how to list and drop them.
 */

/** How recovery reaches the image and container records. */
export interface RecoveryHooks {
  /** Every stored image (of the writable store) with the IDs of its layers. */
  images(): Promise<{ id: string; layerIds: readonly string[] }[]>;
  /** Whether an image's own metadata (config, manifest) is intact. */
  imageIntact(id: string): Promise<boolean>;
  /** Drops an image record that can no longer be used. */
  removeImage(id: string): Promise<void>;
  /** Drops the container (or pod infra container) owning a broken writable layer. */
  removeContainer(id: string): Promise<void>;
}

/** What repairStorage dropped. */
export interface RepairReport {
  layers: string[];
  images: string[];
  containers: string[];
}

/** Checks every layer, image and container layer; drops what is damaged and only that. */
export async function repairStorage(layers: LayerStore, containers: ContainerLayers, hooks: RecoveryHooks, log: Logger): Promise<RepairReport> {
  const report: RepairReport = { layers: [], images: [], containers: [] };
  const damaged = await layers.check();
  for (const d of damaged) log.warn('damaged layer removed', { layerId: d.layerId, reason: d.reason });
  report.layers = await layers.removeWithDescendants(damaged.map((d) => d.layerId));
  for (const image of await hooks.images()) {
    let reason: string | undefined;
    for (const c of image.layerIds) {
      if (!(await layers.hasLayer(c))) {
        reason = `its layer ${c} is missing or was damaged`;
        break;
      }
    }
    if (reason === undefined && !(await hooks.imageIntact(image.id))) reason = 'its metadata is damaged';
    if (reason === undefined) continue;
    try {
      await hooks.removeImage(image.id);
    } catch (err) {
      log.warn('damaged image kept', { imageId: image.id, reason, err: err instanceof Error ? err.message : String(err) });
      continue;
    }
    log.warn('damaged image removed', { imageId: image.id, reason });
    report.images.push(image.id);
  }
  for (const d of await containers.check()) {
    log.warn('container with a damaged layer removed', { containerId: d.containerId, reason: d.reason });
    await hooks.removeContainer(d.containerId);
    report.containers.push(d.containerId);
  }
  log.info('storage repaired', { layers: report.layers.length, images: report.images.length, containers: report.containers.length });
  return report;
}
