/**
 * The client side of an HTTP/2 connection as bytes (RFC 9113 §3.4, §4, §6): the connection
 * preface, frame headers, and header blocks reassembled from HEADERS + CONTINUATION. Used where
 * the daemon looks at a connection before (grpc-handshake.ts) or instead of (grpc-uds-authority.ts)
 * handing it to Node's HTTP/2.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
export const HEADERS = 0x1;
export const SETTINGS = 0x4;
export const CONTINUATION = 0x9;
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE as Node's server advertises it (the default). */
export const MAX_FRAME = 16384;

/** A frame header. */
export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return h;
}

/** One complete header block as the client sent it. */
export interface HeaderBlock {
  streamId: number;
  flags: number;
  /** The frames as received, to forward unchanged. */
  raw: Buffer[];
  /** The 5 priority bytes of the HEADERS frame, when it had them. */
  priority?: Buffer;
  /** The block fragment(s) joined, padding removed. */
  block: Buffer;
}

/**
 * Incremental parser of the client side of a connection: the preface, then frames. Header blocks
 * are reassembled and handed to `onBlock`; every other frame (and the preface) goes to `onOther`
 * as raw bytes. Frames are views into the received chunks (no copies unless a frame spans chunks).
 */
export class ClientFrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceDone = false;
  private pending: HeaderBlock | undefined;

  constructor(
    private readonly onBlock: (b: HeaderBlock) => void,
    private readonly onOther: (raw: Buffer, type: number, flags: number, streamId: number) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (!this.prefaceDone) {
      if (this.buf.length < PREFACE.length) {
        if (!PREFACE.subarray(0, this.buf.length).equals(this.buf)) throw new Error('not an HTTP/2 connection preface');
        return;
      }
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE)) throw new Error('not an HTTP/2 connection preface');
      this.onOther(this.buf.subarray(0, PREFACE.length), -1, 0, 0);
      this.buf = this.buf.subarray(PREFACE.length);
      this.prefaceDone = true;
    }
    let off = 0;
    while (this.buf.length - off >= FRAME_HEADER) {
      const length = this.buf.readUIntBE(off, 3);
      if (this.buf.length - off < FRAME_HEADER + length) break;
      const raw = this.buf.subarray(off, off + FRAME_HEADER + length);
      off += FRAME_HEADER + length;
      this.frame(raw);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }

  /** Bytes received but not handed on yet: the frames of an unfinished header block, then a partial frame. */
  rest(): Buffer[] {
    return [...(this.pending?.raw ?? []), this.buf];
  }

  private frame(raw: Buffer): void {
    const type = raw[3] ?? 0;
    const flags = raw[4] ?? 0;
    const streamId = raw.readUInt32BE(5) & 0x7fffffff;
    let payload = raw.subarray(FRAME_HEADER);
    if (type === HEADERS) {
      let pad = 0;
      if (flags & PADDED) {
        pad = payload[0] ?? 0;
        payload = payload.subarray(1);
      }
      let priority: Buffer | undefined;
      if (flags & PRIORITY) {
        priority = payload.subarray(0, 5);
        payload = payload.subarray(5);
      }
      if (pad > payload.length) throw new Error('HTTP/2: padding longer than the HEADERS payload');
      this.pending = { streamId, flags, raw: [raw], priority, block: payload.subarray(0, payload.length - pad) };
    } else if (type === CONTINUATION && this.pending) {
      this.pending.raw.push(raw);
      this.pending.block = Buffer.concat([this.pending.block, payload]);
      this.pending.flags |= flags & END_HEADERS;
    } else {
      this.onOther(raw, type, flags, streamId);
      return;
    }
    if (this.pending.flags & END_HEADERS) {
      const done = this.pending;
      this.pending = undefined;
      this.onBlock(done);
    }
  }
}
