import http from 'node:http';
import type { Socket } from 'node:net';
import { asError } from '../errors';
import type { Logger } from '../log';
import type { ServerDeps } from './deps';
import { crioInfo, lookupContainerInfo, toJson, type ImageStorage } from './inspect-info';

/**
 * CRI-O's inspect API over HTTP/1.1 on the CRI socket (connections are told apart from gRPC by
 * connection-sniff.ts): GET /info, /config (the effective crio.conf as TOML) and
 * /containers/<id>. Node's HTTP server does the protocol (keep-alive, errors); this file only
 * routes. cAdvisor's client keeps connections open between its queries.
 */

export interface InspectOptions {
  deps: ServerDeps;
  storage: ImageStorage;
  /** The effective configuration as crio.conf TOML. */
  configToml: () => string;
  log: Logger;
}

/** The HTTP/1.1 side of the CRI socket. */
export interface InspectServer {
  /** Serves HTTP/1.1 on an accepted connection whose first bytes are already back on it. */
  handle(socket: Socket): void;
  /** Closes every open inspect connection. */
  close(): void;
}

type Answer = { status: number; type: string; body: string };

const CONTAINERS = '/containers/';

function text(status: number, message: string): Answer {
  // Go's http.Error: text/plain with a trailing newline.
  return { status, type: 'text/plain; charset=utf-8', body: `${message}\n` };
}

async function answer(options: InspectOptions, method: string, url: string): Promise<Answer> {
  const pathname = url.split('?')[0] ?? '';
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'Method Not Allowed');
  if (pathname === '/info') return { status: 200, type: 'application/json', body: toJson(crioInfo(options.deps, options.storage)) };
  if (pathname === '/config') return { status: 200, type: 'application/toml', body: options.configToml() };
  if (pathname.startsWith(CONTAINERS) && pathname.length > CONTAINERS.length && !pathname.slice(CONTAINERS.length).includes('/')) {
    const id = decodeURIComponent(pathname.slice(CONTAINERS.length));
    const info = await lookupContainerInfo(options.deps, id);
    if ('notFound' in info) return text(404, info.notFound);
    return { status: 200, type: 'application/json', body: toJson(info) };
  }
  return text(404, '404 page not found');
}

/** Builds the inspect handler for one daemon. */
export function createInspectServer(options: InspectOptions): InspectServer {
  const server = http.createServer((req, res) => {
    answer(options, req.method ?? 'GET', req.url ?? '/').then(
      (a) => {
        res.writeHead(a.status, { 'Content-Type': a.type, 'Content-Length': Buffer.byteLength(a.body) });
        res.end(req.method === 'HEAD' ? undefined : a.body);
      },
      (err: unknown) => {
        options.log.warn('inspect request failed', { url: req.url, err: asError(err).message });
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`${asError(err).message}\n`);
      },
    );
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return {
    handle: (socket) => {
      server.emit('connection', socket);
      // routeConnection paused the socket to put the first bytes back; the parser reads them now.
      socket.resume();
    },
    close: () => server.closeAllConnections(),
  };
}
