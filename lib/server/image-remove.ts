import type { RemoveImageRequest, RemoveImageResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { ImageRecord } from '../image/image-store';
import { formatReference, isImageId, parseReference } from '../image/reference';
import type { ServerDeps } from './deps';

/**
 * RemoveImage, as CRI-O: a tag of an image with other tags is only untagged; the last tag, an ID,
 * an ID prefix or a digest reference deletes the image (all its names). An image a container
 * uses is never deleted: that is refused (FAILED_PRECONDITION naming the container), so its
 * layers stay in use and are freed by the RemoveImage after the last container is gone. A
 * missing image is success (idempotent).
 */
export async function removeImage(deps: ServerDeps, ctx: OpContext, req: RemoveImageRequest): Promise<RemoveImageResponse> {
  const name = req.image?.image ?? '';
  if (name === '') throw new InvalidArgumentError('RemoveImage: image is empty');
  const record = await deps.images.status(name);
  if (!record) return {};
  const tag = tagNamed(name, record);
  // A repo digest is a name too, but not a tag: removing the last tag deletes the image.
  const deletes = tag === undefined || record.repoTags.length <= 1;
  const user = deletes ? deps.containers.list().find((c) => c.image.id === record.id) : undefined;
  if (user) {
    const what = tag === undefined ? 'it' : `its last tag ${tag}`;
    throw new FailedPreconditionError(`RemoveImage: image ${record.id} is in use by container ${user.id}: removing ${what} would delete it`);
  }
  await deps.images.remove(name, withLogFields(ctx, { image: name }));
  return {};
}

/** The tag of `record` that `name` names, if `name` is a tag reference (not an ID, ID prefix or digest). */
function tagNamed(name: string, record: ImageRecord): string | undefined {
  if (isImageId(name)) return undefined;
  try {
    const ref = parseReference(name);
    if (ref.digest !== undefined) return undefined;
    const tag = formatReference(ref);
    return record.repoTags.includes(tag) ? tag : undefined;
  } catch {
    return undefined;
  }
}
