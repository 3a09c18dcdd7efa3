import type { RemoveImageRequest, RemoveImageResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { ServerDeps } from './deps';

/** RemoveImage: a tag untags, an ID removes the image; a missing image is success (idempotent). */
export async function removeImage(deps: ServerDeps, ctx: OpContext, req: RemoveImageRequest): Promise<RemoveImageResponse> {
  const name = req.image?.image ?? '';
  if (name === '') throw new InvalidArgumentError('RemoveImage: image is empty');
  const record = await deps.images.status(name);
  if (!record) return {};
  const user = deps.containers.list().find((c) => c.image.id === record.id);
  // Removing only a tag leaves the image (and the container's layers) in place, so that is fine.
  const removesImage = record.id.startsWith(name.replace(/^sha256:/, '')) || record.repoTags.length + record.repoDigests.length <= 1;
  if (user && removesImage) {
    throw new FailedPreconditionError(`image ${record.id} is in use by container ${user.id}`);
  }
  await deps.images.remove(name, withLogFields(ctx, { image: name }));
  return {};
}
