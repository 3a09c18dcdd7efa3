import type { Header } from 'tar-stream';
import type { Logger } from '../log';

/**
 * Reading the metadata of one tar header, with PAX records taking precedence over the
 * fixed-width ustar fields (ids above 2^21, sub-second mtimes, xattrs).
 */

/** A tar-stream header (its `pax` holds the entry's PAX records, typed unknown there). */
export type EntryHeaders = Header;

/** The entry's PAX records as strings (tar-stream decodes them as UTF-8). */
function paxRecords(h: EntryHeaders): Record<string, string> | undefined {
  const pax = h.pax;
  if (typeof pax !== 'object' || pax === null) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Owner, mode and time to give the unpacked inode. */
export interface EntryMeta {
  uid: number;
  gid: number;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  /** Seconds since the epoch (fractional when PAX says so). */
  mtime: number;
}

const XATTR_PREFIX = 'SCHILY.xattr.';

function paxNumber(pax: Record<string, string> | undefined, key: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** The entry's owner, mode and mtime. */
export function entryMeta(h: EntryHeaders): EntryMeta {
  const pax = paxRecords(h);
  const uid = paxNumber(pax, 'uid') ?? h.uid ?? 0;
  const gid = paxNumber(pax, 'gid') ?? h.gid ?? 0;
  const mtime = paxNumber(pax, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
  // Some writers leave S_IFMT bits in the mode field; only the permission bits are ours to apply.
  return { uid, gid, mode: (h.mode ?? 0o644) & 0o7777, mtime };
}

/**
 * The entry's extended attributes. Skipped with a warning: `trusted.overlay.*` (only our own
 * whiteout conversion may steer overlayfs; a layer setting redirect/metacopy could expose other
 * layers' files) and values that are not valid UTF-8 (tar-stream decodes PAX records as UTF-8,
 * so such bytes are already lost; writing the mangled value would be worse than none).
 */
export function entryXattrs(h: EntryHeaders, log: Logger): { name: string; value: Buffer }[] {
  const out: { name: string; value: Buffer }[] = [];
  for (const [key, value] of Object.entries(paxRecords(h) ?? {})) {
    if (!key.startsWith(XATTR_PREFIX)) continue;
    const name = key.slice(XATTR_PREFIX.length);
    if (name === '' || name.startsWith('trusted.overlay.')) {
      log.warn('layer xattr skipped', { entry: h.name, xattr: name, reason: 'reserved for overlay' });
      continue;
    }
    if (value.includes('\uFFFD')) {
      log.warn('layer xattr skipped', { entry: h.name, xattr: name, reason: 'value is not valid utf-8' });
      continue;
    }
    out.push({ name, value: Buffer.from(value, 'utf8') });
  }
  return out;
}
