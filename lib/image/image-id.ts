/**
 * Image IDs as CRI clients write them, resolved against the IDs in a store — the one place
 * that decides when a string names an image by ID (CRI-O's HeuristicallyTryResolvingStringAsIDPrefix,
 * which crio-ts also applies to ImageStatus, RemoveImage and ListImages filters):
 * - a full ID (64 lowercase hex characters), with or without `sha256:`;
 * - a unique prefix of at least 3 hex characters of a stored ID, with or without `sha256:`.
 * Pure: the caller passes the IDs it holds.
 */

/** CRI-O's (containers/storage's) shortest accepted ID prefix. */
export const MIN_ID_PREFIX = 3;

const ID_FORM = /^(?:sha256:)?([a-f0-9]+)$/;

/** The hex part of `s` when it is written like an image ID or ID prefix, else undefined. */
export function idHex(s: string): string | undefined {
  const hex = ID_FORM.exec(s)?.[1];
  return hex !== undefined && hex.length <= 64 ? hex : undefined;
}

/** True when `s` is a full image ID (64 hex, `sha256:` optional). */
export function isFullImageId(s: string): boolean {
  return idHex(s)?.length === 64;
}

/**
 * The stored ID that `s` names by ID or unique ID prefix, or undefined (not an ID form, too
 * short, unknown, or a prefix of several IDs).
 */
export function resolveImageId(s: string, ids: Iterable<string>): string | undefined {
  const hex = idHex(s);
  if (hex === undefined || hex.length < MIN_ID_PREFIX) return undefined;
  let found: string | undefined;
  for (const id of ids) {
    if (id === hex) return id;
    if (!id.startsWith(hex)) continue;
    if (found !== undefined) return undefined;
    found = id;
  }
  return found;
}

/**
 * The name to report for the image a container was created from (CRI-O's ContainerStatus
 * `image.image`): the first of `candidates` (user_specified_image, then the image field of the
 * request) that is a name rather than this image's ID, else the image's first tag, else its ID.
 * The kubelet creates containers from the ID ImageStatus gave it, so a tag is what `kubectl
 * describe pod` then shows, as with CRI-O.
 */
export function imageNameForStatus(candidates: readonly string[], image: { id: string; repoTags: readonly string[] }): string {
  for (const c of candidates) if (c !== '' && resolveImageId(c, [image.id]) === undefined) return c;
  return image.repoTags[0] ?? image.id;
}
