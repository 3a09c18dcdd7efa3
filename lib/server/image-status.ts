import type { ImageStatusRequest, ImageStatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { InvalidArgumentError } from '../errors';
import type { ServerDeps } from './deps';
import { toCriImage } from './image-convert';
import { pinnedPatterns } from './image-list';

/** ImageStatus: the image, or `image` unset (not an error) when absent — the kubelet relies on that. */
export async function imageStatus(deps: ServerDeps, _ctx: OpContext, req: ImageStatusRequest): Promise<ImageStatusResponse> {
  const name = req.image?.image ?? '';
  if (name === '') throw new InvalidArgumentError('ImageStatus: image is empty');
  const record = await deps.images.status(name);
  if (!record) return { image: undefined, info: {} };
  const info: Record<string, string> = {};
  if (req.verbose) {
    // CRI-O's verbose info: labels and the full OCI image config (plus what crio-ts knows).
    info.info = JSON.stringify({
      labels: record.config.labels,
      imageSpec: await deps.images.imageSpec(record),
      manifestDigest: record.manifestDigest,
      configDigest: record.configDigest,
      layers: record.layers,
      pulledAt: record.pulledAt,
    });
  }
  return { image: toCriImage(record, pinnedPatterns(deps)), info };
}
