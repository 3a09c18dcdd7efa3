import { InvalidArgumentError } from '../errors';

/**
 * Decoding of tar's on-disk structures (pure): 512-byte header blocks (v7, ustar/PAX, GNU),
 * PAX extended-header records kept as raw bytes, and the GNU sparse maps in their four forms
 * (old GNU `S` headers, PAX 0.0/0.1 records, PAX 1.0 map in the data). Interpretation follows
 * Go's archive/tar, because that is what built and digested nearly every image layer.
 */

/** A tar block; headers, padding and sparse maps all come in these. */
export const BLOCK_SIZE = 512;

/** Entry types crio-ts unpacks. */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

/** What a header block announces: an entry, or metadata for the next entry. */
export type HeaderKind = TarEntryType | 'pax' | 'pax-global' | 'gnu-long-name' | 'gnu-long-link' | 'skip';

/** One run of content in a sparse file: `length` bytes at `offset` of the file. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** A decoded header block. */
export interface RawHeader {
  name: string;
  linkname: string;
  kind: HeaderKind;
  /** The typeflag character, for messages. */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow the header in the archive. */
  size: number;
  mtime: number;
  devmajor: number;
  devminor: number;
  /** Old GNU sparse (`S`): the map held in the header, whether extension blocks follow, the file's real size. */
  gnuSparse?: { segments: SparseSegment[]; extended: boolean; realSize: number };
}

/** One PAX record; keys may repeat (PAX 0.0 sparse maps), so they are kept in order. */
export interface PaxRecord {
  key: string;
  value: Buffer;
}

const utf8 = new TextDecoder('utf-8');

function invalid(why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid layer tar: ${why}`);
}

/** True for an all-zero block (the end-of-archive marker). */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** A NUL-terminated string field. */
function str(block: Buffer, off: number, len: number): string {
  const end = block.indexOf(0, off);
  return utf8.decode(block.subarray(off, end < 0 || end > off + len ? off + len : end));
}

/** A numeric field: octal text, or GNU base-256 when the top bit of the first byte is set. */
export function parseNumeric(field: Buffer, what: string): number {
  if (field.length > 0 && ((field[0] ?? 0) & 0x80) !== 0) {
    if (field[0] === 0xff) throw invalid(`negative ${what}`);
    let n = BigInt((field[0] ?? 0) & 0x7f);
    for (let i = 1; i < field.length; i++) n = (n << 8n) | BigInt(field[i] ?? 0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} is too large`);
    return Number(n);
  }
  const text = field.toString('latin1').replace(/^[\0 ]+/, '').replace(/[\0 ]+$/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw invalid(`${what} field ${JSON.stringify(text)} is not octal`);
  const n = parseInt(text, 8);
  if (!Number.isSafeInteger(n)) throw invalid(`${what} is too large`);
  return n;
}

const KINDS: Record<string, HeaderKind> = {
  '0': 'file',
  '7': 'file',
  S: 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  D: 'directory',
  '6': 'fifo',
  x: 'pax',
  X: 'pax', // Solaris' older spelling of the same extended header
  g: 'pax-global',
  L: 'gnu-long-name',
  K: 'gnu-long-link',
  V: 'skip', // GNU volume label: no file
};

function checksumOk(block: Buffer): boolean {
  const stored = parseNumeric(block.subarray(148, 156), 'header checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  // Some old tars summed signed bytes; Go accepts either, so do we.
  return stored === unsigned || stored === signed;
}

/** Decodes a (non-zero) header block; InvalidArgumentError when it is not a valid header. */
export function decodeHeader(block: Buffer): RawHeader {
  if (!checksumOk(block)) throw invalid('header checksum mismatch (not a tar archive, or corrupted)');
  const magic = block.toString('latin1', 257, 265);
  const gnu = magic === 'ustar  \0';
  const ustar = magic.startsWith('ustar\0');
  const typeflag = block[156] === 0 ? '\0' : String.fromCharCode(block[156] ?? 0);
  let name = str(block, 0, 100);
  if (ustar) {
    // star puts atime/ctime after a shorter prefix and marks it with a trailer.
    const prefix = str(block, 345, block.toString('latin1', 508, 512) === 'tar\0' ? 131 : 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  let kind: HeaderKind | undefined = typeflag === '\0' ? (name.endsWith('/') ? 'directory' : 'file') : KINDS[typeflag];
  if (typeflag === 'S' && !gnu) kind = undefined;
  if (kind === undefined) throw invalid(`entry ${JSON.stringify(name)} has unsupported type ${JSON.stringify(typeflag)}`);
  const h: RawHeader = {
    name,
    linkname: str(block, 157, 100),
    kind,
    typeflag,
    mode: parseNumeric(block.subarray(100, 108), 'mode'),
    uid: parseNumeric(block.subarray(108, 116), 'uid'),
    gid: parseNumeric(block.subarray(116, 124), 'gid'),
    size: parseNumeric(block.subarray(124, 136), 'size'),
    mtime: parseNumeric(block.subarray(136, 148), 'mtime'),
    devmajor: ustar || gnu ? parseNumeric(block.subarray(329, 337), 'devmajor') : 0,
    devminor: ustar || gnu ? parseNumeric(block.subarray(337, 345), 'devminor') : 0,
  };
  if (typeflag === 'S') {
    const { segments, extended } = decodeSparseEntries(block, 386, 4, 482);
    h.gnuSparse = { segments, extended, realSize: parseNumeric(block.subarray(483, 495), 'sparse real size') };
  }
  return h;
}

/** `count` 24-byte (offset, length) pairs from `off`, and the "more blocks follow" flag at `flagAt`. */
function decodeSparseEntries(block: Buffer, off: number, count: number, flagAt: number): { segments: SparseSegment[]; extended: boolean } {
  const segments: SparseSegment[] = [];
  for (let i = 0; i < count; i++) {
    const at = off + i * 24;
    if (block[at] === 0) break; // unused slots are zero-filled
    segments.push({ offset: parseNumeric(block.subarray(at, at + 12), 'sparse offset'), length: parseNumeric(block.subarray(at + 12, at + 24), 'sparse length') });
  }
  return { segments, extended: block[flagAt] !== 0 };
}

/** An old-GNU sparse extension block: 21 more map entries and the flag for another block. */
export function decodeSparseExtension(block: Buffer): { segments: SparseSegment[]; extended: boolean } {
  return decodeSparseEntries(block, 0, 21, 504);
}

/**
 * Parses PAX records (`"<len> <key>=<value>\n"`). Values stay raw bytes: `SCHILY.xattr.*` values
 * such as security.capability are binary, and decoding them as text would corrupt them.
 */
export function parsePaxRecords(data: Buffer): PaxRecord[] {
  const out: PaxRecord[] = [];
  let pos = 0;
  while (pos < data.length) {
    // Trailing NUL padding is tolerated, as Go's reader does.
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw invalid('malformed PAX record length');
    const lenText = data.toString('latin1', pos, space);
    if (!/^[0-9]+$/.test(lenText)) throw invalid(`malformed PAX record length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= space - pos + 1 || end > data.length || data[end - 1] !== 0x0a) throw invalid('malformed PAX record');
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw invalid('PAX record without "="');
    const key = utf8.decode(data.subarray(space + 1, eq));
    if (key === '') throw invalid('PAX record with an empty key');
    out.push({ key, value: Buffer.from(data.subarray(eq + 1, end - 1)) });
    pos = end;
  }
  return out;
}

/** Decimal integer from a PAX value. */
export function paxInteger(value: Buffer, key: string): number {
  const text = value.toString('latin1');
  if (!/^-?[0-9]+$/.test(text)) throw invalid(`PAX ${key}=${JSON.stringify(text)} is not an integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw invalid(`PAX ${key} is too large`);
  return n;
}

/** Seconds (possibly fractional) from a PAX time value. */
export function paxTime(value: Buffer, key: string): number {
  const text = value.toString('latin1');
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(text)) throw invalid(`PAX ${key}=${JSON.stringify(text)} is not a time`);
  return Number(text);
}

/** The comma-separated `offset,length,…` list of PAX 0.1 (and 0.0, once its records are joined). */
export function parseSparseList(values: readonly string[], what: string): SparseSegment[] {
  if (values.length % 2 !== 0) throw invalid(`${what} has an odd number of values`);
  const out: SparseSegment[] = [];
  for (let i = 0; i < values.length; i += 2) {
    const offset = Number(values[i]);
    const length = Number(values[i + 1]);
    if (!/^[0-9]+$/.test(values[i] ?? '') || !/^[0-9]+$/.test(values[i + 1] ?? '') || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) {
      throw invalid(`${what} holds a value that is not a size`);
    }
    out.push({ offset, length });
  }
  return out;
}

/**
 * The PAX 1.0 sparse map at the start of the data: decimal lines `count`, then `offset`,
 * `length` per segment, padded to a block. Returns undefined while `text` holds too few lines.
 */
export function parseSparseMap1x0(text: Buffer): SparseSegment[] | undefined {
  const lines: string[] = [];
  let pos = 0;
  for (;;) {
    const nl = text.indexOf(0x0a, pos);
    if (nl < 0) return undefined;
    lines.push(text.toString('latin1', pos, nl));
    pos = nl + 1;
    const count = Number(lines[0]);
    if (lines.length === 1 && (!/^[0-9]+$/.test(lines[0] ?? '') || !Number.isSafeInteger(count))) throw invalid('malformed PAX 1.0 sparse map');
    if (lines.length === 1 + 2 * count) return parseSparseList(lines.slice(1), 'PAX 1.0 sparse map');
  }
}

/** Checks a sparse map: segments in order, not overlapping, inside the file; returns the data bytes it covers. */
export function checkSparseMap(segments: readonly SparseSegment[], realSize: number, entryName: string): number {
  let end = 0;
  let total = 0;
  for (const s of segments) {
    if (s.offset < end || s.offset + s.length > realSize) {
      throw invalid(`entry ${JSON.stringify(entryName)} has a sparse map with overlapping or out-of-range segments`);
    }
    end = s.offset + s.length;
    total += s.length;
  }
  return total;
}
