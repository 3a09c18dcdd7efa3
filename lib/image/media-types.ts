/**
 * Media types of the OCI image spec and Docker's schema 2, and what each means for a pull.
 */

/** OCI image manifest. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** OCI image index (multi-platform). */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** Docker image manifest, schema 2. */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** Docker manifest list (multi-platform). */
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Docker schema 1 (legacy, signed or not); refused. */
export const DOCKER_SCHEMA1_TYPES: readonly string[] = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];
/** OCI image config. */
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Docker image config. */
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** Uncompressed OCI layer. */
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
/** gzip OCI layer. */
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** zstd OCI layer. */
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** gzip Docker layer. */
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** What the registry is asked for: every manifest kind we can use, single images first. */
export const MANIFEST_ACCEPT: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST];

/** Manifest-list kinds. */
export function isIndexMediaType(mt: string): boolean {
  return mt === OCI_INDEX || mt === DOCKER_MANIFEST_LIST;
}

/** Single-image manifest kinds. */
export function isManifestMediaType(mt: string): boolean {
  return mt === OCI_MANIFEST || mt === DOCKER_MANIFEST;
}

/** Image config kinds (anything else is an OCI artifact, not a runnable image). */
export function isConfigMediaType(mt: string): boolean {
  return mt === OCI_CONFIG || mt === DOCKER_CONFIG;
}

/** How a layer blob is compressed, judged by its media type. */
export type LayerCompression = 'none' | 'gzip' | 'zstd' | 'unknown';

/** The compression a layer media type declares (OCI, OCI non-distributable, Docker, Docker foreign). */
export function layerCompression(mt: string): LayerCompression {
  if (mt.endsWith('+encrypted')) return 'unknown';
  if (mt === DOCKER_LAYER_GZIP || mt === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip') return 'gzip';
  const m = /^application\/vnd\.oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(\+gzip|\+zstd)?$/.exec(mt);
  if (!m) return 'unknown';
  if (m[1] === '+gzip') return 'gzip';
  if (m[1] === '+zstd') return 'zstd';
  return 'none';
}
