import type { Config } from '../config/config';
import type { Logger } from '../log';
import { ContainerLayers } from '../storage/container-layers';
import { ImageRecords } from '../storage/image-records';
import { LayerGc } from '../storage/layer-gc';
import { LayerStore } from '../storage/layer-store';
import { migrateLegacyStore } from '../storage/legacy-migration';
import { parseStorageOptions } from '../storage/storage-options';
import { daemonLayout } from './daemon';

/** The opened image/layer/container store. */
export interface OpenedStorage {
  layerStore: LayerStore;
  imageRecords: ImageRecords;
  containerLayers: ContainerLayers;
  layerGc: LayerGc;
}

/**
 * Opens containers/storage's store at the configured graph root and run root, with the driver
 * options of crio.conf and storage.conf (additional image stores, mount options); moves a store
 * of crio-ts's earlier layout into it first.
 */
export async function openStorage(config: Config, log: Logger): Promise<OpenedStorage> {
  const layout = daemonLayout(config);
  const settings = parseStorageOptions(config.crio.storage_option);
  for (const opt of settings.ignored) log.warn('storage option has no effect in crio-ts', { option: opt });
  let gc: LayerGc | undefined;
  const layerStore = new LayerStore({
    graphRoot: layout.graphRoot,
    log,
    additionalImageStores: settings.additionalImageStores,
    onCommit: async (id) => gc?.addCandidates([id]),
    mountHome: !settings.skipMountHome,
  });
  await layerStore.init();
  const imageRecords = new ImageRecords(layout.graphRoot, log, settings.additionalImageStores);
  await imageRecords.init();
  const containerLayers = new ContainerLayers({
    graphRoot: layout.graphRoot,
    runRoot: layout.runRoot,
    layerStore,
    images: imageRecords,
    log,
    mountOptions: settings.mountOptions,
    legacyRoot: layout.legacy.containerLayers,
    volatileRecords: settings.volatileRecords,
  });
  gc = new LayerGc({ layers: layerStore, images: imageRecords, containers: containerLayers.store, log });
  await migrateLegacyStore({ legacy: layout.legacy, layers: layerStore, images: imageRecords, log });
  await containerLayers.init();
  log.info('storage opened', { graphRoot: layout.graphRoot, runRoot: layout.runRoot, driver: layout.storageDriver, additionalImageStores: settings.additionalImageStores });
  return { layerStore, imageRecords, containerLayers, layerGc: gc };
}
