import type { ListImagesRequest, ListImagesResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import { toCriImage } from './image-convert';

/** ListImages: every stored image, or the one a non-empty filter names (CRI-O's exact lookup). */
export async function listImages(deps: ServerDeps, _ctx: OpContext, req: ListImagesRequest): Promise<ListImagesResponse> {
  const pinned = pinnedPatterns(deps);
  return { images: (await deps.images.list(req.filter?.image?.image || undefined)).map((r) => toCriImage(r, pinned)) };
}

/** pinned_images plus the pause image, which CRI-O always pins. */
export function pinnedPatterns(deps: ServerDeps): string[] {
  return [...deps.config.image.pinned_images, deps.config.image.pause_image];
}
