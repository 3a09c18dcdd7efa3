import { huffmanDecode } from './hpack-huffman';

/**
 * Just enough HPACK (RFC 7541) for grpc-uds-authority.ts to re-encode old gRPC-Go clients'
 * request headers: a complete decoder (static and dynamic table, size updates, Huffman) and an
 * encoder that writes every field as a literal without indexing, so the server's dynamic table
 * stays empty and can never disagree with ours.
 *
 * Written here rather than taken from hpack.js: that package (unmaintained since 2016) costs
 * ~30 µs per request in `new Buffer()` deprecation checks alone (a stack walk each time) and
 * keeps readable-stream v2 in the daemon's memory for every connection's lifetime.
 */

/** One header field; name and value as the bytes on the wire (HTTP/2 field names are lower-case ASCII). */
export interface HeaderField {
  name: Buffer;
  value: Buffer;
  /** Sent as "never indexed" (sensitive): kept so on re-encoding. */
  neverIndex: boolean;
}

// prettier-ignore
const STATIC: [string, string][] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'],
  [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''],
  ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''],
  ['cache-control', ''], ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''],
  ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const STATIC_FIELDS = STATIC.map(([n, v]) => ({ name: Buffer.from(n, 'latin1'), value: Buffer.from(v, 'latin1') }));
/** Per-entry overhead in the table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;
/** Longest string or integer accepted: larger than any header block the server would take. */
const MAX_INT = 1 << 24;

/** Decodes the header blocks of one direction of one connection (the dynamic table persists across blocks). */
export class HpackDecoder {
  /** Dynamic table, newest first (index 62 is entries[0]). */
  private readonly entries: { name: Buffer; value: Buffer }[] = [];
  private size = 0;
  private maxSize: number;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE the server advertises (nghttp2's default 4096). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /** The fields of one complete header block; throws on a malformed block (a connection error). */
  decode(block: Uint8Array): HeaderField[] {
    this.buf = block;
    this.pos = 0;
    const out: HeaderField[] = [];
    while (this.pos < block.length) {
      const b = block[this.pos] ?? 0;
      if (b & 0x80) {
        const f = this.field(this.int(7));
        out.push({ name: f.name, value: f.value, neverIndex: false });
      } else if (b & 0x40) {
        const f = this.literal(6, false);
        this.add(f.name, f.value);
        out.push(f);
      } else if (b & 0x20) {
        if (out.length > 0) throw new Error('HPACK: dynamic table size update after a header field');
        const size = this.int(5);
        if (size > this.limit) throw new Error(`HPACK: dynamic table size ${size} above ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
      } else {
        out.push(this.literal(4, (b & 0x10) !== 0));
      }
    }
    this.buf = new Uint8Array(0);
    return out;
  }

  private literal(prefix: number, neverIndex: boolean): HeaderField {
    const index = this.int(prefix);
    const name = index === 0 ? this.string() : this.field(index).name;
    return { name, value: this.string(), neverIndex };
  }

  private field(index: number): { name: Buffer; value: Buffer } {
    const f = index <= STATIC_FIELDS.length ? STATIC_FIELDS[index - 1] : this.entries[index - STATIC_FIELDS.length - 1];
    if (index === 0 || !f) throw new Error(`HPACK: no table entry ${index}`);
    return f;
  }

  private add(name: Buffer, value: Buffer): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541 §4.4).
    if (size > this.maxSize) return;
    this.entries.unshift({ name, value });
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.entries.length > 0) {
      const e = this.entries.pop();
      if (e) this.size -= e.name.length + e.value.length + ENTRY_OVERHEAD;
    }
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1). */
  private int(prefix: number): number {
    const max = (1 << prefix) - 1;
    let value = (this.buf[this.pos++] ?? 0) & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.buf.length) throw new Error('HPACK: truncated integer');
      const b = this.buf[this.pos++] ?? 0;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INT) throw new Error('HPACK: integer too large');
      if ((b & 0x80) === 0) return value;
    }
  }

  /** A string literal, Huffman-decoded when flagged (RFC 7541 §5.2); a copy, never a view of the frame. */
  private string(): Buffer {
    if (this.pos >= this.buf.length) throw new Error('HPACK: truncated string');
    const huffman = ((this.buf[this.pos] ?? 0) & 0x80) !== 0;
    const length = this.int(7);
    if (this.pos + length > this.buf.length) throw new Error('HPACK: truncated string');
    const raw = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return huffman ? huffmanDecode(raw) : Buffer.from(raw);
  }
}

function intLength(value: number, prefix: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) return 1;
  let n = 2;
  for (let rest = value - max; rest >= 0x80; rest = Math.floor(rest / 128)) n++;
  return n;
}

function writeInt(out: Buffer, pos: number, value: number, prefix: number, flags: number): number {
  const max = (1 << prefix) - 1;
  if (value < max) {
    out[pos] = flags | value;
    return pos + 1;
  }
  out[pos++] = flags | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[pos++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[pos] = rest;
  return pos + 1;
}

/** A header block of literal fields without indexing (never-indexed ones stay so), with plain (not Huffman) strings. */
export function encodeLiterals(fields: readonly HeaderField[]): Buffer {
  let size = 0;
  for (const f of fields) size += 1 + intLength(f.name.length, 7) + f.name.length + intLength(f.value.length, 7) + f.value.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const f of fields) {
    out[pos++] = f.neverIndex ? 0x10 : 0x00; // literal name (index 0)
    pos = writeInt(out, pos, f.name.length, 7, 0);
    pos += f.name.copy(out, pos);
    pos = writeInt(out, pos, f.value.length, 7, 0);
    pos += f.value.copy(out, pos);
  }
  return out;
}
