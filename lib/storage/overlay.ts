import path from 'node:path';
import { InvalidArgumentError, ResourceExhaustedError } from '../errors';
import type { MountSpec } from './mount';

/**
 * Builds overlay mounts as data (pure). Lower layers are named by their short `l/<id>` links
 * and the mount runs with cwd = the layer root, as containers/storage does, so `lowerdir=`
 * for ~128 layers still fits in the single page the kernel accepts for mount(2) data.
 */

/** containers/storage's `maxDepth`: more lowers than this are refused outright. */
export const MAX_OVERLAY_LOWERS = 500;

/** mount(2) copies at most one page of option data; longer strings are truncated by the kernel. */
export const MOUNT_DATA_LIMIT = 4095;

/** Inputs for an overlay mount of a container's rootfs. */
export interface OverlayMountOptions {
  /** Directory the `l/<short>` links live in; becomes the mount's cwd. */
  layerRoot: string;
  /** `l/<short>` names relative to layerRoot, uppermost first; absolute paths for lowers elsewhere (a read-only image store). */
  lowerLinks: string[];
  /** Absolute writable layer directory. */
  upperDir: string;
  /** Absolute overlay work directory (same filesystem as upperDir). */
  workDir: string;
  /** Absolute mount point. */
  target: string;
  /** Appended verbatim after the dirs (e.g. `volatile`, `metacopy=on`, `context="…"`). */
  extraOptions?: string[];
}

// Overlay splits lowerdir on ':' and mount options on ','; such characters would change the meaning.
const FORBIDDEN = /[,:\n\0\\]/;
const LINK = /^l\/[A-Za-z0-9]+$/;

/** The MountSpec for an overlay with the given layers; throws on values that cannot be mounted. */
export function overlayMountSpec(o: OverlayMountOptions): MountSpec {
  if (o.lowerLinks.length === 0) throw new InvalidArgumentError('overlay mount needs at least one lower layer');
  if (o.lowerLinks.length > MAX_OVERLAY_LOWERS) {
    throw new ResourceExhaustedError(`overlay mount has ${o.lowerLinks.length} lower layers, more than ${MAX_OVERLAY_LOWERS}`);
  }
  for (const link of o.lowerLinks) {
    const absolute = path.isAbsolute(link) && path.posix.normalize(link) === link && !FORBIDDEN.test(link);
    if (!LINK.test(link) && !absolute) throw new InvalidArgumentError(`invalid overlay lower link ${JSON.stringify(link)}`);
  }
  for (const [name, p] of [
    ['layerRoot', o.layerRoot],
    ['upperDir', o.upperDir],
    ['workDir', o.workDir],
    ['target', o.target],
  ] as const) {
    if (!path.isAbsolute(p)) throw new InvalidArgumentError(`overlay ${name} ${JSON.stringify(p)} is not absolute`);
    if (FORBIDDEN.test(p)) throw new InvalidArgumentError(`overlay ${name} ${JSON.stringify(p)} contains a character overlay cannot take`);
  }
  const extra = o.extraOptions ?? [];
  for (const opt of extra) {
    if (opt === '') throw new InvalidArgumentError('empty overlay mount option');
  }
  const options = [`lowerdir=${o.lowerLinks.join(':')}`, `upperdir=${o.upperDir}`, `workdir=${o.workDir}`, ...extra];
  const dataLength = options.join(',').length;
  if (dataLength > MOUNT_DATA_LIMIT) {
    throw new ResourceExhaustedError(`overlay mount options are ${dataLength} bytes, more than the ${MOUNT_DATA_LIMIT} mount(2) accepts`);
  }
  return { source: 'overlay', fstype: 'overlay', target: o.target, options, cwd: o.layerRoot };
}
