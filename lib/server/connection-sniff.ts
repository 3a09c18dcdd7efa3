import type { Socket } from 'node:net';

/**
 * One unix socket serves two protocols, as CRI-O's does: gRPC (HTTP/2, which every client opens
 * with the connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") and the HTTP/1.1 inspect API
 * cAdvisor and `crio status` use. The first bytes decide; they are put back on the socket
 * before the chosen server reads it. Cost per connection: one 'data' listener and one unshift.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What the first bytes of a connection say: 'http2', 'http1', or undefined while they could still be either. */
export function sniffProtocol(head: Buffer): 'http2' | 'http1' | undefined {
  const n = Math.min(head.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== PREFACE[i]) return 'http1';
  // No HTTP/1.x method starts with "PRI " (the preface was chosen to be no valid request line).
  return n >= 4 ? 'http2' : undefined;
}

/** Hands the connection to `http2` or `http1` once its first bytes arrive; those bytes are read again by the chosen server. */
export function routeConnection(socket: Socket, handlers: { http2: (s: Socket) => void; http1: (s: Socket) => void }): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const protocol = sniffProtocol(head);
    if (protocol === undefined) return;
    socket.off('data', onData);
    socket.pause();
    socket.unshift(head);
    handlers[protocol](socket);
  };
  socket.on('data', onData);
  // A client that connects and goes away before sending anything needs no handler.
  socket.once('close', () => socket.off('data', onData));
  socket.on('error', () => socket.destroy());
}
