import { parseReference, repositoryName, type ImageReference } from './reference';
import type { SignedIdentity } from './signature-policy';

/**
 * Whether the identity a signature claims (`critical.identity.docker-reference`) is acceptable
 * for the image being pulled under a policy's `signedIdentity` (c/image
 * signature/policy_reference_match.go). Pure.
 */

function parseOrUndefined(s: string): ImageReference | undefined {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}

/** `repo:tag` / `repo@digest` as one comparable string. */
function full(ref: ImageReference): string {
  return repositoryName(ref) + (ref.digest !== undefined ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`);
}

function repoDigestOrExact(image: ImageReference, signed: ImageReference): boolean {
  // A digest names the content, so any signed tag of the same repository vouches for it.
  if (image.digest !== undefined) return repositoryName(image) === repositoryName(signed);
  return full(image) === full(signed);
}

/** Replaces `prefix` (on a path-component boundary) with `signedPrefix`; undefined when it does not match. */
function remap(image: ImageReference, prefix: string, signedPrefix: string): ImageReference | undefined {
  const name = full(image);
  if (!name.startsWith(prefix)) return undefined;
  const next = name.charAt(prefix.length);
  if (name.length !== prefix.length && !':/@'.includes(next) && !prefix.endsWith('/')) return undefined;
  return parseOrUndefined(signedPrefix + name.slice(prefix.length));
}

/** True when a signature claiming `signedReference` is valid for `image` under `identity`. */
export function identityMatches(identity: SignedIdentity, image: ImageReference, signedReference: string): boolean {
  const signed = parseOrUndefined(signedReference);
  if (!signed) return false;
  switch (identity.type) {
    case 'matchExact':
      // A digest-only name has no tag to compare; c/image requires both to be the same kind.
      return (image.digest !== undefined) === (signed.digest !== undefined) && full(image) === full(signed);
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(image, signed);
    case 'matchRepository':
      return repositoryName(image) === repositoryName(signed);
    case 'exactReference': {
      const want = parseOrUndefined(identity.dockerReference);
      return want !== undefined && full(want) === full(signed);
    }
    case 'exactRepository': {
      const want = parseOrUndefined(identity.dockerRepository);
      return want !== undefined && repositoryName(want) === repositoryName(signed);
    }
    case 'remapIdentity': {
      const mapped = remap(image, identity.prefix, identity.signedPrefix) ?? image;
      return repoDigestOrExact(mapped, signed);
    }
  }
}
