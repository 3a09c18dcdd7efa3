import { createHash } from 'node:crypto';
import { FailedPreconditionError, NotFoundError, UnimplementedError } from '../errors';
import {
  DOCKER_SCHEMA1_TYPES,
  OCI_INDEX,
  OCI_MANIFEST,
  isConfigMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from './media-types';
import { isDigest } from './reference';

/**
 * Parsing and validation of manifests, indexes and image configs (OCI image spec + Docker
 * schema 2), platform selection and chain IDs. Pure: bytes in, typed values out. Content that
 * does not validate is a FailedPreconditionError naming what was wrong.
 */

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
  annotations?: Record<string, string>;
}

/** An OS/architecture pair as in an index entry. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A single-image manifest. */
export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** A multi-platform index / manifest list. */
export interface ImageIndex {
  mediaType: string;
  manifests: Descriptor[];
}

/** A parsed manifest of either kind. */
export type ParsedManifest = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

/** What a container needs from the image config (`config` section of the OCI config). */
export interface ImageConfigInfo {
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  stopSignal: string;
  volumes: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
}

/** The parts of an image config a pull uses. */
export interface ImageConfig {
  os: string;
  architecture: string;
  variant?: string;
  config: ImageConfigInfo;
  diffIds: string[];
}

type Json = Record<string, unknown>;

function bad(what: string, detail: string): FailedPreconditionError {
  return new FailedPreconditionError(`invalid ${what}: ${detail}`);
}

function parseJson(bytes: Uint8Array, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new FailedPreconditionError(`invalid ${what}: not JSON`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, 'not a JSON object');
  return v as Json;
}

/** The sha256 digest (`sha256:<hex>`) of some bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/**
 * Parses a manifest or index. The kind comes from the JSON `mediaType`, else the HTTP
 * Content-Type, else the shape (old registries send `application/json`).
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  const doc = parseJson(bytes, 'manifest');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  if (doc.schemaVersion === 1 || DOCKER_SCHEMA1_TYPES.includes(declared ?? '') || DOCKER_SCHEMA1_TYPES.includes(header ?? '')) {
    throw new UnimplementedError('Docker schema 1 manifests are not supported; push the image with a current client (schema 2 or OCI)');
  }
  if (doc.schemaVersion !== 2) throw bad('manifest', `schemaVersion ${String(doc.schemaVersion)}, want 2`);
  let mediaType = declared ?? (header !== undefined && (isIndexMediaType(header) || isManifestMediaType(header)) ? header : undefined);
  mediaType ??= Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST;
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw bad('image index', 'manifests is not an array');
    return { kind: 'index', index: { mediaType, manifests: doc.manifests.map((d, i) => parseDescriptor(d, `manifests[${i}]`)) } };
  }
  if (!isManifestMediaType(mediaType)) throw new UnimplementedError(`unsupported manifest media type "${mediaType}"`);
  const config = parseDescriptor(doc.config, 'config');
  if (!isConfigMediaType(config.mediaType)) {
    throw new UnimplementedError(`config media type "${config.mediaType}" is an OCI artifact, not a container image`);
  }
  if (!Array.isArray(doc.layers)) throw bad('manifest', 'layers is not an array');
  return { kind: 'manifest', manifest: { mediaType, config, layers: doc.layers.map((d, i) => parseDescriptor(d, `layers[${i}]`)) } };
}

function parseDescriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null) throw bad('manifest', `${where} is not an object`);
  const d = v as Json;
  if (typeof d.mediaType !== 'string') throw bad('manifest', `${where}.mediaType is missing`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw bad('manifest', `${where}.digest "${String(d.digest)}" is not sha256:<64 hex>`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad('manifest', `${where}.size is not a non-negative integer`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (typeof d.platform === 'object' && d.platform !== null) {
    const p = d.platform as Json;
    if (typeof p.os !== 'string' || typeof p.architecture !== 'string') throw bad('image index', `${where}.platform lacks os/architecture`);
    out.platform = { os: p.os, architecture: p.architecture };
    if (typeof p.variant === 'string' && p.variant !== '') out.platform.variant = p.variant;
  }
  if (Array.isArray(d.urls)) out.urls = d.urls.filter((u): u is string => typeof u === 'string');
  return out;
}

/** The platform of this host, in OCI terms (GOOS/GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
  };
  return arch[process.arch] ?? { os: 'linux', architecture: process.arch };
}

/** Variants a wanted variant can run, best first (c/image platform_matcher); '' = unspecified. */
function compatibleVariants(p: Platform): string[] {
  const v = p.variant ?? '';
  if (p.architecture === 'arm64') return v === '' || v === 'v8' ? ['v8', ''] : [v, 'v8', ''];
  if (p.architecture === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    const i = order.indexOf(v === '' ? 'v7' : v);
    return i === -1 ? [v, ''] : [...order.slice(i), ''];
  }
  return v === '' ? [''] : [v, ''];
}

/** Picks the manifest for `platform` from an index; NotFoundError listing what the index has. */
export function selectPlatform(index: ImageIndex, platform: Platform): Descriptor {
  const candidates = index.manifests.filter(
    (d) => isManifestMediaType(d.mediaType) && d.platform?.os === platform.os && d.platform.architecture === platform.architecture,
  );
  for (const variant of compatibleVariants(platform)) {
    const hit = candidates.find((d) => (d.platform?.variant ?? '') === variant);
    if (hit) return hit;
  }
  const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : 'unknown')).join(', ');
  throw new NotFoundError(`no image found in image index for platform ${formatPlatform(platform)} (index has: ${have || 'nothing'})`);
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

/** Parses an image config blob and extracts what containers need plus `rootfs.diff_ids`. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const doc = parseJson(bytes, 'image config');
  const rootfs = doc.rootfs as Json | undefined;
  if (typeof rootfs !== 'object' || rootfs === null || rootfs.type !== 'layers') throw bad('image config', 'rootfs.type is not "layers"');
  const diffIds = rootfs.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d): d is string => typeof d === 'string' && isDigest(d))) {
    throw bad('image config', 'rootfs.diff_ids is not a list of sha256 digests');
  }
  const c = (typeof doc.config === 'object' && doc.config !== null ? doc.config : {}) as Json;
  const out: ImageConfig = {
    os: typeof doc.os === 'string' ? doc.os : '',
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    config: {
      user: str(c.User),
      env: strings(c.Env),
      entrypoint: strings(c.Entrypoint),
      cmd: strings(c.Cmd),
      workingDir: str(c.WorkingDir),
      stopSignal: str(c.StopSignal),
      volumes: keys(c.Volumes),
      labels: stringMap(c.Labels),
      exposedPorts: keys(c.ExposedPorts),
    },
    diffIds,
  };
  if (typeof doc.variant === 'string' && doc.variant !== '') out.variant = doc.variant;
  return out;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function keys(v: unknown): string[] {
  return typeof v === 'object' && v !== null ? Object.keys(v).sort() : [];
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** OCI chain IDs: ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const parent = out[out.length - 1];
    out.push(parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`));
  }
  return out;
}
