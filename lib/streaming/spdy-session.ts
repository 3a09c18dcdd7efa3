import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type * as transport from 'spdy-transport';
import { InternalError } from '../errors';

/**
 * The SPDY side of Kubernetes streaming (k8s.io/apimachinery httpstream/spdy): an HTTP/1.1
 * upgrade to `SPDY/3.1` with the sub-protocol in X-Stream-Protocol-Version, then a SPDY/3 session in
 * which the client opens one stream per channel, typed by a `streamType` header.
 *
 * spdy-transport does the framing and header compression. Two shims make it talk to the Go peers
 * (moby/spdystream) that kubectl, crictl and the kubelet use:
 * - spdystream's SYN_STREAMs carry only Kubernetes headers; spdy-transport insists on HTTP's
 *   `:method`/`:path` and would fail the whole session, so a header block without them gets
 *   placeholders before that check.
 * - spdystream does no flow control: it never sends WINDOW_UPDATE. spdy-transport would stop
 *   sending on a stream after the 64 KiB default window, so streams start with the largest window
 *   SPDY allows. A peer that does flow control (spdy-transport itself) announces its window in its
 *   SETTINGS frame, which replaces this default as the protocol says.
 */

/** The Upgrade token of Kubernetes' SPDY streams. */
export const SPDY_UPGRADE = 'SPDY/3.1';

const MAX_WINDOW = 0x7fffffff;

/** spdy-transport, loaded with the first SPDY session: an idle daemon never needs its ~50 modules. */
function spdyTransport(): typeof transport {
  return require('spdy-transport') as typeof transport;
}

/** The SPDY session type (spdy-transport's Connection). */
export type SpdySession = transport.Connection;
/** One stream of a session. */
export type SpdyStream = transport.SpdyStream;

/** True for a request asking for Kubernetes' SPDY upgrade. */
export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === SPDY_UPGRADE.toLowerCase();
}

/**
 * Answers 101 Switching Protocols (naming the negotiated sub-protocol, if any) and starts a
 * server session on the socket; `onStream` gets every stream the client opens.
 */
export function acceptSpdy(socket: Duplex, head: Buffer, protocol: string | undefined, onStream: (stream: SpdyStream) => void): SpdySession {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${SPDY_UPGRADE}`];
  if (protocol) lines.push(`X-Stream-Protocol-Version: ${protocol}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const session = spdyTransport().connection.create(socket, { protocol: 'spdy', isServer: true });
  makeGoCompatible(session);
  session.on('stream', onStream);
  return session;
}

/** Opens a client session on an upgraded socket (for tests and tools); SPDY/3 like the Go clients. */
export function connectSpdy(socket: Duplex): SpdySession {
  const session = spdyTransport().connection.create(socket, { protocol: 'spdy', isServer: false });
  makeGoCompatible(session);
  session.start(3);
  return session;
}

function makeGoCompatible(session: SpdySession): void {
  const parser = session._spdyState?.parser;
  if (typeof session._setDefaultWindow !== 'function' || typeof parser?.parseKVs !== 'function') {
    throw new InternalError('spdy-transport internals changed: cannot adapt it to Kubernetes SPDY clients (check the installed version)');
  }
  session._setDefaultWindow({ initial_window_size: MAX_WINDOW });
  const parseKVs = parser.parseKVs;
  parser.parseKVs = function (this: transport.SpdyParser, buffer, callback) {
    parseKVs.call(this, buffer, (err, headers) => {
      if (!err && headers[':method'] === undefined && headers[':path'] === undefined) {
        headers[':method'] = 'POST';
        headers[':path'] = '/';
      }
      callback(err, headers);
    });
  };
}

/** Accepts a stream the client opened (SYN_REPLY); the Go client waits for it before using the stream. */
export function replyToStream(stream: SpdyStream): void {
  stream.on('error', () => undefined); // RST from the client: the session's own handling cleans up
  stream.respond(200, {});
}
