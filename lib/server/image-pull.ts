import type { PullImageRequest, PullImageResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { InvalidArgumentError } from '../errors';
import type { ServerDeps } from './deps';

/** PullImage: resolve, verify and store an image; returns its ID (config digest) as image_ref. */
export async function pullImage(deps: ServerDeps, ctx: OpContext, req: PullImageRequest): Promise<PullImageResponse> {
  const ref = req.image?.image ?? '';
  if (ref === '') throw new InvalidArgumentError('PullImage: image reference is empty');
  // The pod's namespace selects `<signature_policy_dir>/<namespace>.json` (CRI-O).
  const namespace = req.sandboxConfig?.metadata?.namespace || undefined;
  // Layer GC waits while a pull runs: a layer it reuses must not go with an image removed meanwhile.
  const record = await deps.layerGc.duringPull(() => deps.images.pull(ref, req.auth, withLogFields(ctx, { image: ref }), { namespace }));
  return { imageRef: record.id };
}
