import { createServer as createHttpServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Socket, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { AttachRequest, ExecRequest, PortForwardRequest } from '../cri/gen/api';
import { InvalidArgumentError, UnavailableError } from '../errors';
import type { Logger } from '../log';
import { advertisedHost } from './address';
import * as proto from './protocols';
import type { StreamRuntime } from './runtime';
import type { ClientStreams } from './session';
import { TokenCache } from './token-cache';

/**
 * The session code (SPDY framing, WebSocket channels, port forwarding), loaded at the first
 * upgrade: an idle node, or one whose pods are never exec'd into, never needs it (issue 17, idle RSS).
 */
function sessions() {
  return {
    ...(require('./portforward-spdy') as typeof import('./portforward-spdy')),
    ...(require('./portforward-ws') as typeof import('./portforward-ws')),
    ...(require('./remotecommand-spdy') as typeof import('./remotecommand-spdy')),
    ...(require('./remotecommand-ws') as typeof import('./remotecommand-ws')),
    ...(require('./spdy-session') as typeof import('./spdy-session')),
  };
}

/**
 * The streaming server (the kubelet's pkg/kubelet/cri/streaming server, which CRI-O embeds): Exec,
 * Attach and PortForward store their request under a single-use token and answer with
 * `<base>/{exec,attach,portforward}/<token>`; the client upgrades an HTTP request on that URL to
 * SPDY/3.1 or WebSocket and the session runs against the StreamRuntime.
 */

/** Options of the streaming server. */
export interface StreamingServerOptions {
  /** Bind address; an unspecified one (0.0.0.0, ::) is advertised as the node's first external IP. */
  address: string;
  /** 0 = a free port. */
  port: number;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** Close connections idle this long; 0 = never. */
  idleTimeoutMs: number;
  runtime: StreamRuntime;
  log: Logger;
  /** How long a client may take to open its streams (kubelet: 30 s). */
  streamCreationTimeoutMs?: number;
  /** Token lifetime (default one minute) and clock, injectable for tests. */
  tokenTtlMs?: number;
  now?: () => number;
}

type Cached = { kind: 'exec'; req: ExecRequest } | { kind: 'attach'; req: AttachRequest } | { kind: 'portforward'; req: PortForwardRequest };

const DEFAULT_STREAM_CREATION_TIMEOUT_MS = 30_000;
/** How long a finished session waits for the client to close the connection before dropping it. */
const LINGER_MS = 10_000;

/** Writes a plain HTTP error on a socket that was never upgraded, then drops it. */
function refuse(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const body = message + '\n';
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`);
}

function requireStreams(r: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }, what: string): void {
  // Multiplexing stderr onto a terminal is not possible: the kubelet refuses the combination too.
  if (r.tty && r.stderr) throw new InvalidArgumentError(`${what}: tty and stderr cannot both be true`);
  if (!r.stdin && !r.stdout && !r.stderr) throw new InvalidArgumentError(`${what}: one of stdin, stdout, or stderr must be set`);
}

/** A running streaming server. */
export class StreamingServer {
  private readonly tokens: TokenCache<Cached>;
  private readonly sessions = new Set<{ abort: AbortController; socket: Socket }>();
  /** Made on the first WebSocket session: ws is loaded only then (an idle node never needs it). */
  private wss: WebSocketServer | undefined;
  private readonly wsProtocols = new WeakMap<IncomingMessage, string>();
  private readonly creationTimeoutMs: number;
  private baseUrl = '';

  private constructor(private readonly server: Server, private readonly options: StreamingServerOptions) {
    this.tokens = new TokenCache({ ttlMs: options.tokenTtlMs, now: options.now });
    this.creationTimeoutMs = options.streamCreationTimeoutMs ?? DEFAULT_STREAM_CREATION_TIMEOUT_MS;
    server.on('request', (req, res) => {
      // A plain request still uses up its token, as with the kubelet.
      const found = this.lookup(req);
      res.writeHead(found ? 400 : 404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(found ? 'Upgrade request required\n' : 'Not Found\n');
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  /** Starts listening; resolves once the port is bound. */
  static async start(options: StreamingServerOptions): Promise<StreamingServer> {
    const tls = options.tls;
    const server = tls
      ? createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: tls.ca !== undefined })
      : createHttpServer();
    const s = new StreamingServer(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new UnavailableError(`streaming server cannot listen on ${options.address || '*'}:${options.port}: ${err.message}`, { cause: err })));
      server.listen(options.port, options.address || undefined, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => options.log.warn('streaming server error', { err: err.message }));
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    s.baseUrl = `${tls ? 'https' : 'http'}://${advertisedHost(options.address)}:${port}`;
    options.log.info('streaming server listening', { url: s.baseUrl });
    return s;
  }

  /** Where clients connect, e.g. `http://127.0.0.1:43215`. */
  get url(): string {
    return this.baseUrl;
  }

  /** Validates an Exec request and returns its single-use URL. */
  execUrl(req: ExecRequest): string {
    if (req.containerId === '') throw new InvalidArgumentError('Exec: missing required container_id');
    if (req.cmd.length === 0) throw new InvalidArgumentError('Exec: cmd is empty');
    requireStreams(req, 'Exec');
    return `${this.baseUrl}/exec/${this.tokens.insert({ kind: 'exec', req })}`;
  }

  /** Validates an Attach request and returns its single-use URL. */
  attachUrl(req: AttachRequest): string {
    if (req.containerId === '') throw new InvalidArgumentError('Attach: missing required container_id');
    requireStreams(req, 'Attach');
    return `${this.baseUrl}/attach/${this.tokens.insert({ kind: 'attach', req })}`;
  }

  /** Validates a PortForward request and returns its single-use URL. */
  portForwardUrl(req: PortForwardRequest): string {
    if (req.podSandboxId === '') throw new InvalidArgumentError('PortForward: missing required pod_sandbox_id');
    return `${this.baseUrl}/portforward/${this.tokens.insert({ kind: 'portforward', req })}`;
  }

  /** Stops listening and ends every session (their processes are killed by the runtime). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) {
      s.abort.abort();
      s.socket.destroy();
    }
    this.server.closeAllConnections();
    await closed;
  }

  private webSocketServer(): WebSocketServer {
    if (!this.wss) {
      const { WebSocketServer: Wss } = require('ws') as typeof import('ws');
      this.wss = new Wss({ noServer: true, perMessageDeflate: false, handleProtocols: (_offered, req) => this.wsProtocols.get(req) ?? false });
    }
    return this.wss;
  }

  /** The cached request the URL's token names, taken out of the cache. */
  private lookup(req: IncomingMessage): Cached | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const cached = m ? this.tokens.consume(m[2] as string) : undefined;
    return cached && cached.kind === m?.[1] ? cached : undefined;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    if (!(socket instanceof Socket)) return void socket.destroy(); // http(s) always hands over a net.Socket
    const cached = this.lookup(req);
    if (!cached) return refuse(socket, 404, 'Not Found');
    const { acceptSpdy, isSpdyUpgrade, parsePort, servePortForwardSpdy, servePortForwardWs, spdyClientStreams, wsClientStreams } = sessions();
    const log = this.options.log.child({ stream: cached.kind, ...('containerId' in cached.req ? { containerId: cached.req.containerId } : { podSandboxId: cached.req.podSandboxId }) });
    const websocket = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    if (!websocket && !isSpdyUpgrade(req)) return refuse(socket, 400, 'unable to upgrade: missing upgrade headers in request');
    const supported = websocket
      ? cached.kind === 'portforward' ? proto.PORTFORWARD_WS_PROTOCOLS : proto.REMOTECOMMAND_WS_PROTOCOLS
      : cached.kind === 'portforward' ? proto.PORTFORWARD_SPDY_PROTOCOLS : proto.REMOTECOMMAND_SPDY_PROTOCOLS;
    const offered = proto.offeredProtocols(websocket ? req.headers['sec-websocket-protocol'] : req.headers['x-stream-protocol-version']);
    // No offer: the kubelet falls back to the oldest protocol.
    const protocol = offered.length === 0 ? '' : proto.negotiate(offered, supported);
    if (protocol === undefined) {
      return refuse(socket, 403, `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${supported.join(' ')}]`, {
        'X-Accepted-Stream-Protocol-Versions': supported.join(', '),
      });
    }
    let ports: number[] = [];
    if (websocket && cached.kind === 'portforward') {
      // The kubelet proxies without the query: then the ports of the PortForward request count
      // (upstream's streaming server always takes those).
      const query = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port');
      const values = query.length > 0 ? query : cached.req.port.map(String);
      ports = values.map((v) => parsePort(v) ?? NaN);
      if (ports.length === 0 || ports.some(Number.isNaN)) return refuse(socket, 400, `query parameter "port" must name ports 1-65535, got [${values.join(' ')}]`);
    }

    const session = { abort: new AbortController(), socket };
    this.sessions.add(session);
    const signal = session.abort.signal;
    socket.once('close', () => {
      session.abort.abort();
      this.sessions.delete(session);
    });
    const armIdleTimeout = (): void => {
      if (this.options.idleTimeoutMs <= 0) return;
      socket.setTimeout(this.options.idleTimeoutMs);
      socket.once('timeout', () => socket.destroy());
    };
    log.debug('streaming session started', { protocol: `${websocket ? 'websocket' : 'spdy'}/${protocol || 'default'}` });

    if (websocket) {
      this.wsProtocols.set(req, protocol);
      this.webSocketServer().handleUpgrade(req, socket, head, (ws: WebSocket) => {
        armIdleTimeout(); // after ws has taken over the socket (it clears the timeout)
        ws.on('error', () => socket.destroy());
        if (cached.kind === 'portforward') return servePortForwardWs(ws, protocol, ports, cached.req.podSandboxId, this.options.runtime, signal, log);
        void this.runRemoteCommand(cached, wsClientStreams(ws, protocol, cached.req, signal), socket, log);
      });
      return;
    }
    armIdleTimeout();
    const spdy = acceptSpdy(socket, head, protocol, () => undefined);
    spdy.on('error', () => socket.destroy());
    if (cached.kind === 'portforward') return servePortForwardSpdy(spdy, cached.req.podSandboxId, this.options.runtime, signal, this.creationTimeoutMs, log);
    spdyClientStreams(spdy, protocol, cached.req, this.creationTimeoutMs, signal).then(
      (streams) => this.runRemoteCommand(cached, streams, socket, log),
      (err: unknown) => {
        log.debug('streaming session failed', { err: err instanceof Error ? err.message : String(err) });
        socket.destroy();
      },
    );
  }

  private async runRemoteCommand(cached: Exclude<Cached, { kind: 'portforward' }>, streams: ClientStreams, socket: Duplex, log: Logger): Promise<void> {
    const io = { stdin: streams.stdin, stdout: streams.stdout, stderr: streams.stderr, resize: streams.resize, signal: streams.signal, log };
    try {
      if (cached.kind === 'exec') streams.finish({ exitCode: await this.options.runtime.exec(cached.req, io) });
      else {
        await this.options.runtime.attach(cached.req, io);
        streams.finish({ exitCode: 0 });
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.debug('streaming session failed', { err: message });
      streams.finish({ error: message });
    }
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  }
}
