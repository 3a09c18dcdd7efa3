import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * Image references as docker/distribution parses and normalises them (`ParseNormalizedNamed`):
 * `busybox` → docker.io/library/busybox:latest. Pure; every other image module builds on it.
 */

/** A fully-qualified image reference. */
export interface ImageReference {
  /** Registry host, with port if any (`docker.io`, `127.0.0.1:5000`). */
  domain: string;
  /** Repository path inside the registry (`library/busybox`). */
  path: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

/** The domain Docker Hub references normalise to. */
export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar of github.com/distribution/reference/regexp.go.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const SHA256_DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID_RE = /^(?:sha256:)?[a-f0-9]{64}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;

function invalid(s: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid image reference ${quote(s)}: ${what}`);
}

/** Splits `name` into (domain, remainder) the way docker's splitDockerDomain does. */
function splitDomain(name: string): { domain: string; remainder: string; explicit: boolean } {
  const i = name.indexOf('/');
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || !looksLikeDomain(first)) {
    return { domain: DEFAULT_DOMAIN, remainder: name, explicit: false };
  }
  return { domain: first, remainder: name.slice(i + 1), explicit: true };
}

/** A first path component is a registry host if it has a dot or port, is localhost, or has capitals. */
function looksLikeDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first;
}

/** Parses and normalises an image reference; adds `:latest` when neither tag nor digest is given. */
export function parseReference(s: string): ImageReference {
  if (s === '') throw invalid(s, 'empty reference');
  if (s !== s.trim()) throw invalid(s, 'must not contain whitespace');
  if (IMAGE_ID_RE.test(s) && !s.startsWith('sha256:')) {
    throw invalid(s, 'cannot specify 64-byte hexadecimal strings as a repository name');
  }
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(s, `invalid digest ${quote(digest)}`);
    if (!SHA256_DIGEST_RE.test(digest)) throw invalid(s, `unsupported digest ${quote(digest)}, want sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  // A colon after the last slash starts the tag; one before it belongs to a host:port.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(s, `invalid tag ${quote(tag)}`);
  }
  const { domain: rawDomain, remainder } = splitDomain(rest);
  if (!DOMAIN_RE.test(rawDomain)) throw invalid(s, `invalid registry host ${quote(rawDomain)}`);
  const domain = rawDomain === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : rawDomain;
  let path = remainder;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  if (path === '') throw invalid(s, 'empty repository path');
  if (path.toLowerCase() !== path) throw invalid(s, 'repository name must be lowercase');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) throw invalid(s, `invalid repository path component ${quote(component)}`);
  }
  if (`${domain}/${path}`.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(s, `repository name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** `domain/path` without tag or digest: the key repo digests and registries.conf prefixes use. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full reference string: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** The repository name as Docker shows it (`busybox`, `foo/bar`, `quay.io/x/y`). */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
}

/** True when the user gave no registry host (`busybox`, `foo/bar:1`), so search registries apply. */
export function isShortName(s: string): boolean {
  const name = s.split('@')[0] ?? s;
  return !splitDomain(name).explicit;
}

/** True for an image ID: 64 lowercase hex characters, with or without `sha256:`. */
export function isImageId(s: string): boolean {
  return IMAGE_ID_RE.test(s);
}

/** True for a well-formed `sha256:<64 hex>` digest. */
export function isDigest(s: string): boolean {
  return SHA256_DIGEST_RE.test(s);
}

/** The 64-hex part of `sha256:<hex>` (or of a bare hex ID). */
export function digestHex(digest: string): string {
  const hex = digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
  if (!HEX64_RE.test(hex)) throw new InvalidArgumentError(`invalid sha256 digest ${quote(digest)}`);
  return hex;
}
