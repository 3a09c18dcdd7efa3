import { FailedPreconditionError, NotFoundError } from '../errors';
import type { ContainerRecords } from './container-records';
import type { ImageRecords } from './image-records';
import type { LayerStore } from './layer-store';
import type { StoredContainer, StoredImage, StoredLayer } from './store-records';

/**
 * Image deletion as containers/storage's DeleteImage does it, under the layers, images and
 * containers locks in that order: refused while any container (ours or podman's) uses the image;
 * then the image's layers go from the top down, stopping at the first one another image tops,
 * a container's writable layer is, or that has a child not going too. Layers are shared across
 * tools, so nothing else decides: a layer another image or a podman container needs stays.
 */

/** What deleteImage did. */
export interface DeletedImage {
  image: StoredImage;
  /** Layers deleted, top first. */
  removedLayers: string[];
  /** Layers that would have gone but were kept for a running pull of ours (collect them later). */
  deferredLayers: string[];
}

/** The layers of `image` that go with it (DeleteImage's walk). */
export function layersToRemove(image: StoredImage, others: readonly StoredImage[], layers: readonly StoredLayer[], containers: readonly StoredContainer[]): string[] {
  const otherTops = new Set(others.filter((i) => i.id !== image.id).flatMap((i) => [i.layer ?? '', ...(i['mapped-layers'] ?? [])]));
  const containerLayers = new Set(containers.map((c) => c.layer));
  const children = new Map<string, string[]>();
  for (const l of layers) if (l.parent) children.set(l.parent, [...(children.get(l.parent) ?? []), l.id]);
  const out: string[] = [...(image['mapped-layers'] ?? [])];
  const going = new Set(out);
  for (let id = image.layer; id !== undefined && id !== ''; ) {
    if (containerLayers.has(id) || otherTops.has(id)) break;
    const check = id === image.layer ? [id, ...(image['mapped-layers'] ?? [])] : [id];
    if (check.some((c) => (children.get(c) ?? []).some((child) => !going.has(child)))) break;
    out.push(id);
    going.add(id);
    id = layers.find((l) => l.id === id)?.parent;
  }
  return out;
}

/** Deletes an image and the layers only it used; `deferLayers` keeps the layers (a pull of ours runs). */
export async function deleteImage(o: { layers: LayerStore; images: ImageRecords; containers: ContainerRecords; id: string; deferLayers: boolean }): Promise<DeletedImage> {
  const lock = o.layers.file.lock;
  await lock.lock();
  try {
    await o.layers.file.reloadIfChanged();
    const ilock = o.images.file.lock;
    await ilock.lock();
    try {
      await o.images.file.reloadIfChanged();
      const image = o.images.file.current().find((i) => i.id === o.id);
      // (The locks are not re-entrant: under them only current records and other stores are read.)
      const roImages = await o.images.listReadOnly();
      if (!image) {
        if (roImages.some((i) => i.id === o.id)) throw new FailedPreconditionError(`image ${o.id} is in a read-only additional image store`);
        throw new NotFoundError(`image ${o.id} not found`);
      }
      const containers = await o.containers.file.read((cs) => [...cs]);
      const user = containers.find((c) => c.image === image.id);
      if (user) throw new FailedPreconditionError(`image ${image.id} is in use by container ${user.id}`);
      const doomed = layersToRemove(image, [...o.images.file.current(), ...roImages], o.layers.file.current(), containers);
      await o.images.deleteLocked(image.id);
      if (o.deferLayers) return { image, removedLayers: [], deferredLayers: doomed };
      for (const l of doomed) await o.layers.deleteLocked(l);
      return { image, removedLayers: doomed, deferredLayers: [] };
    } finally {
      ilock.unlock();
    }
  } finally {
    lock.unlock();
  }
}
