import type { Logger } from '../log';
import type { TarEntry } from './tar-reader';

/**
 * What of a tar entry's metadata gets applied to the unpacked inode (PAX values already took
 * precedence over the fixed-width ustar fields in the reader).
 */

/** Owner, mode and time to give the unpacked inode. */
export interface EntryMeta {
  uid: number;
  gid: number;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  /** Seconds since the epoch (fractional when PAX says so). */
  mtime: number;
}

/** The entry's owner, mode and mtime. */
export function entryMeta(e: TarEntry): EntryMeta {
  // Some writers leave S_IFMT bits in the mode field; only the permission bits are ours to apply.
  return { uid: e.uid, gid: e.gid, mode: e.mode & 0o7777, mtime: e.mtime };
}

/**
 * The entry's extended attributes, values byte-exact (security.capability is binary). Skipped
 * with a warning: `trusted.overlay.*` — only our own whiteout conversion may steer overlayfs; a
 * layer setting redirect/metacopy/opaque itself could expose other layers' files.
 */
export function entryXattrs(e: TarEntry, log: Logger): { name: string; value: Buffer }[] {
  const out: { name: string; value: Buffer }[] = [];
  for (const x of e.xattrs) {
    if (x.name === '' || x.name.includes('\0') || x.name.startsWith('trusted.overlay.')) {
      log.warn('layer xattr skipped', { entry: e.name, xattr: x.name, reason: 'reserved for overlay or invalid' });
      continue;
    }
    out.push(x);
  }
  return out;
}
