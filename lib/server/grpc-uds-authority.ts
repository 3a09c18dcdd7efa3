import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { encodeLiterals, HpackDecoder, type HeaderField } from './hpack';
import { ClientFrameParser, CONTINUATION, END_HEADERS, END_STREAM, frameHeader, HEADERS, MAX_FRAME, PRIORITY, type HeaderBlock } from './http2-frames';

/**
 * gRPC-Go clients up to Kubernetes 1.26 (kubelet, crictl) dial the CRI socket with the socket
 * path as HTTP/2 `:authority` ("/var/run/crio/crio.sock"). nghttp2, under Node's HTTP/2, rejects
 * a '/' in `:authority` with PROTOCOL_ERROR, where CRI-O and containerd (Go servers) accept it.
 *
 * grpc-handshake.ts hands such connections (and only those) here: client bytes pass through a
 * frame parser, and from the first request on whose `:authority` nghttp2 refuses, every request
 * header block is re-encoded with `:authority: localhost` for the life of the connection. The
 * re-encoded blocks are literals that never enter the server's dynamic table, so the client's
 * HPACK context (mirrored by our decoder) and the server's can never disagree. Only the
 * client→server direction is touched.
 */

/** nghttp2's accepted `:authority` characters (RFC 3986 authority without userinfo rules). */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]*$/;
const AUTHORITY = Buffer.from(':authority', 'latin1');
const LOCALHOST = Buffer.from('localhost', 'latin1');

/** Whether nghttp2 would accept this `:authority`. */
export function isValidAuthority(value: string): boolean {
  return VALID_AUTHORITY.test(value);
}

/** The `:authority` of decoded request headers ('' when absent). */
export function authorityOf(fields: readonly HeaderField[]): string {
  return fields.find((h) => h.name.equals(AUTHORITY))?.value.toString('latin1') ?? '';
}

/**
 * The client → server byte filter of one connection: forwards frames unchanged unless the first
 * request's `:authority` is one nghttp2 refuses, in which case every header block from then on is
 * re-encoded with `:authority: localhost`.
 */
export class AuthorityRewriter {
  private mode: 'undecided' | 'forward' | 'rewrite' = 'undecided';
  private readonly decoder = new HpackDecoder();
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
      if (isValidAuthority(authorityOf(decoded))) {
        this.mode = 'forward';
        this.out.push(...b.raw);
        return;
      }
      this.mode = 'rewrite';
    }
    for (let i = 0; i < decoded.length; i++) {
      const h = decoded[i] as HeaderField;
      if (h.name.equals(AUTHORITY) && !isValidAuthority(h.value.toString('latin1'))) decoded[i] = { name: h.name, value: LOCALHOST, neverIndex: h.neverIndex };
    }
    const block = encodeLiterals(decoded);
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

/**
 * A socket whose incoming bytes pass through an AuthorityRewriter; outgoing bytes are untouched.
 * Node's HTTP/2 drives a JS stream through JSStreamSocket, which writes each flush's frames as
 * one corked batch: `_writev` turns that batch into one writev(2) instead of one write per frame.
 */
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

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.socket.write((chunks[i] as { chunk: Buffer }).chunk);
    this.socket.write((chunks[chunks.length - 1] as { chunk: Buffer }).chunk, cb);
    this.socket.uncork();
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
