import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import hpack from 'hpack.js';

/**
 * gRPC-Go clients up to Kubernetes 1.26 (kubelet, crictl) dial the CRI socket with the socket
 * path as HTTP/2 `:authority` ("/var/run/crio/crio.sock"). nghttp2, under Node's HTTP/2, rejects
 * a '/' in `:authority` with PROTOCOL_ERROR, where CRI-O and containerd (Go servers) accept it.
 *
 * Client bytes pass through a frame parser until the connection's first request: a valid
 * authority switches it to forwarding frames as they are; an invalid one makes it re-encode every
 * request header block with `:authority: localhost` for the life of the connection. Nothing is
 * held back before that first request, since gRPC-Go waits for the server's SETTINGS before it
 * sends one. Only the client→server direction is touched, and from the first request on the
 * proxy is the only HPACK encoder towards the server, so both HPACK contexts stay consistent.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_HEADER_TABLE_SIZE and SETTINGS_MAX_FRAME_SIZE as Node's server advertises them. */
const TABLE_SIZE = 4096;
const MAX_FRAME = 16384;

/** nghttp2's accepted `:authority` characters (RFC 3986 authority without userinfo rules). */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]*$/;

/** Whether nghttp2 would accept this `:authority`. */
export function isValidAuthority(value: string): boolean {
  return VALID_AUTHORITY.test(value);
}

interface HeaderBlock {
  streamId: number;
  flags: number;
  /** The frames as received, to forward unchanged. */
  raw: Buffer[];
  /** The 5 priority bytes of the HEADERS frame, when it had them. */
  priority?: Buffer;
  block: Buffer;
}

function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return h;
}

/**
 * Incremental parser of the client side of an HTTP/2 connection: the preface, then frames.
 * Header blocks (HEADERS + CONTINUATION) are reassembled and handed to `onBlock`; every other
 * frame is handed to `onOther` as raw bytes.
 */
class ClientFrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceDone = false;
  private pending: HeaderBlock | undefined;

  constructor(
    private readonly onBlock: (b: HeaderBlock) => void,
    private readonly onOther: (raw: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (!this.prefaceDone) {
      if (this.buf.length < PREFACE.length) return;
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE)) throw new Error('not an HTTP/2 connection preface');
      this.onOther(this.buf.subarray(0, PREFACE.length));
      this.buf = this.buf.subarray(PREFACE.length);
      this.prefaceDone = true;
    }
    while (this.buf.length >= 9) {
      const length = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + length) return;
      const raw = this.buf.subarray(0, 9 + length);
      this.buf = this.buf.subarray(9 + length);
      this.frame(raw);
    }
  }

  private frame(raw: Buffer): void {
    const type = raw[3] ?? 0;
    const flags = raw[4] ?? 0;
    const streamId = raw.readUInt32BE(5) & 0x7fffffff;
    let payload = raw.subarray(9);
    if (type === HEADERS) {
      let pad = 0;
      if (flags & PADDED) {
        pad = payload[0] ?? 0;
        payload = payload.subarray(1);
      }
      let priority: Buffer | undefined;
      if (flags & PRIORITY) {
        priority = Buffer.from(payload.subarray(0, 5));
        payload = payload.subarray(5);
      }
      this.pending = { streamId, flags, raw: [raw], priority, block: Buffer.from(payload.subarray(0, payload.length - pad)) };
    } else if (type === CONTINUATION && this.pending) {
      this.pending.raw.push(raw);
      this.pending.block = Buffer.concat([this.pending.block, payload]);
      this.pending.flags |= flags & END_HEADERS;
    } else {
      this.onOther(raw);
      return;
    }
    if (this.pending.flags & END_HEADERS) {
      const done = this.pending;
      this.pending = undefined;
      this.onBlock(done);
    }
  }
}

/** Decodes header blocks with one HPACK context (one per connection direction). */
class BlockDecoder {
  private readonly decoder = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  private error: Error | undefined;

  constructor() {
    this.decoder.on('error', (err) => {
      this.error = err;
    });
  }

  decode(block: Buffer): hpack.HeaderField[] {
    this.decoder.write(block);
    this.decoder.execute();
    if (this.error) throw this.error;
    const out: hpack.HeaderField[] = [];
    for (let h = this.decoder.read(); h !== null; h = this.decoder.read()) out.push(h);
    return out;
  }
}

/**
 * The client → server byte filter of one connection: forwards frames unchanged unless the first
 * request's `:authority` is one nghttp2 refuses, in which case every header block from then on is
 * re-encoded with `:authority: localhost`.
 */
export class AuthorityRewriter {
  private mode: 'undecided' | 'forward' | 'rewrite' = 'undecided';
  private readonly decoder = new BlockDecoder();
  private readonly encoder = hpack.compressor.create({ table: { size: TABLE_SIZE } });
  private out: Buffer[] = [];
  private readonly parser = new ClientFrameParser(
    (b) => this.block(b),
    (raw) => this.out.push(raw),
  );

  /** Whether this connection's header blocks are being rewritten. */
  get rewriting(): boolean {
    return this.mode === 'rewrite';
  }

  /** Feeds client bytes; returns the bytes to hand to the server. */
  transform(chunk: Buffer): Buffer {
    this.parser.push(chunk);
    const result = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
    this.out = [];
    return result;
  }

  private block(b: HeaderBlock): void {
    if (this.mode === 'forward') {
      this.out.push(...b.raw);
      return;
    }
    const decoded = this.decoder.decode(b.block);
    if (this.mode === 'undecided') {
      const authority = decoded.find((h) => h.name === ':authority')?.value ?? '';
      if (isValidAuthority(authority)) {
        this.mode = 'forward';
        this.out.push(...b.raw);
        return;
      }
      this.mode = 'rewrite';
    }
    const headers = decoded.map((h) =>
      h.name === ':authority' && !isValidAuthority(h.value) ? { name: h.name, value: 'localhost' } : { name: h.name, value: h.value, neverIndex: h.neverIndex },
    );
    this.encoder.write(headers);
    const block = this.encoder.read() ?? Buffer.alloc(0);
    const head = b.priority ?? Buffer.alloc(0);
    const first = block.subarray(0, MAX_FRAME - head.length);
    let rest = block.subarray(first.length);
    const flags = (b.flags & END_STREAM) | (b.priority ? PRIORITY : 0) | (rest.length === 0 ? END_HEADERS : 0);
    this.out.push(frameHeader(head.length + first.length, HEADERS, flags, b.streamId), head, first);
    while (rest.length > 0) {
      const part = rest.subarray(0, MAX_FRAME);
      rest = rest.subarray(part.length);
      this.out.push(frameHeader(part.length, CONTINUATION, rest.length === 0 ? END_HEADERS : 0, b.streamId), part);
    }
  }
}

/** A socket whose incoming bytes pass through an AuthorityRewriter; outgoing bytes are untouched. */
class RewritingSocket extends Duplex {
  private readonly rewriter = new AuthorityRewriter();

  constructor(private readonly socket: Socket) {
    super();
    socket.on('data', (chunk: Buffer) => this.deliver(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  private deliver(chunk: Buffer): void {
    let bytes: Buffer;
    try {
      bytes = this.rewriter.transform(chunk);
    } catch (err) {
      this.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (bytes.length > 0 && !this.push(bytes)) this.socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

/** Wraps an accepted unix-socket connection so old gRPC-Go clients' requests are accepted. */
export function withAuthorityFix(socket: Socket): Duplex {
  return new RewritingSocket(socket);
}
