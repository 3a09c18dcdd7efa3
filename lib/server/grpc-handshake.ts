import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HpackDecoder } from './hpack';
import { ACK, ClientFrameParser, FRAME_HEADER, HEADERS, SETTINGS, type HeaderBlock } from './http2-frames';
import { authorityOf, isValidAuthority, withAuthorityFix } from './grpc-uds-authority';

/**
 * Looks at a gRPC connection's first request before Node's HTTP/2 gets the socket, so that only
 * the clients that need it (socket path as `:authority`: kubelet/crictl ≤ 1.26) go through the
 * JS rewriting stream of grpc-uds-authority.ts; every other client's connection is handed over
 * as the native socket, which nghttp2 reads and writes without any JS in between (measured:
 * ~100 µs less daemon CPU per call).
 *
 * gRPC-Go sends no request before it has the server's SETTINGS, so the daemon sends an empty
 * SETTINGS frame first (a valid server preface; nghttp2's own SETTINGS follow as a second frame).
 * The client's ACK of it is taken out of the byte stream: nghttp2 would treat an ACK of settings
 * it never sent as a connection error. Every other byte read here is put back (`unshift`) for the
 * server to read, in order. Decided once both the ACK and the first complete header block are in;
 * a client that sends anything else first (a PING) is handed to the rewriting stream, which is
 * correct for every client and decides at its first request itself.
 */

const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
/** Frames that may come before a request and need no answer before it. */
const QUIET = new Set([SETTINGS, 0x8 /* WINDOW_UPDATE */, 0x2 /* PRIORITY */]);
/** More than this before a decision is no gRPC client: the connection is dropped. */
const MAX_PEEK = 256 * 1024;

/** What the first bytes of a gRPC connection decided. */
export type Handover = { kind: 'native'; socket: Socket } | { kind: 'rewrite'; stream: Duplex };

/** Reads the connection's first request, then calls `onReady` once with the socket or the rewriting stream to serve. */
export function peekGrpcConnection(socket: Socket, onReady: (h: Handover) => void): void {
  const kept: Buffer[] = [];
  let size = 0;
  let ackSeen = false;
  let first: HeaderBlock | undefined;
  let other = false;
  const parser = new ClientFrameParser(
    (b) => {
      first ??= b;
      kept.push(...b.raw);
    },
    (raw, type, flags, streamId) => {
      if (!ackSeen && type === SETTINGS && flags & ACK && streamId === 0 && raw.length === FRAME_HEADER) {
        ackSeen = true; // our SETTINGS' ACK: not for nghttp2
        return;
      }
      if (type >= 0 && !QUIET.has(type) && type !== HEADERS) other = true;
      kept.push(raw);
    },
  );
  const fail = (): void => {
    cleanup();
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    try {
      parser.push(chunk);
    } catch {
      return fail();
    }
    if (!ackSeen || (!first && !other)) {
      if (size > MAX_PEEK) fail();
      return;
    }
    cleanup();
    socket.pause();
    socket.unshift(Buffer.concat([...kept, ...parser.rest()]));
    if (first && isValidAuthority(authorityOrInvalid(first))) {
      onReady({ kind: 'native', socket });
    } else {
      onReady({ kind: 'rewrite', stream: withAuthorityFix(socket) });
    }
  };
  const cleanup = (): void => {
    socket.off('data', onData);
    socket.off('close', cleanup);
  };
  socket.on('data', onData);
  socket.once('close', cleanup);
  // connection-sniff.ts paused the socket to put its first bytes back.
  socket.resume();
  socket.write(EMPTY_SETTINGS);
}

/** The first request's authority, or a value that is never valid when its block does not decode (the rewriting stream then reports the error). */
function authorityOrInvalid(block: HeaderBlock): string {
  try {
    return authorityOf(new HpackDecoder().decode(block.block));
  } catch {
    return '/';
  }
}
