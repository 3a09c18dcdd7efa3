import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { WebSocket, type ClientOptions } from 'ws';
import { connectSpdy, SPDY_UPGRADE, type SpdySession, type SpdyStream } from '../../lib/streaming/spdy-session';

/**
 * Streaming clients for tests, built from the libraries the server uses (spdy-transport, ws) and
 * speaking what client-go speaks: remotecommand over SPDY (`streamType` streams) and WebSocket
 * (channel-prefixed messages), port-forward over SPDY (error + data stream per request) and
 * WebSocket (two channels per port).
 */

/** An upgraded SPDY connection. */
export interface SpdyClient {
  session: SpdySession;
  socket: Socket;
  protocol: string;
}

/** Upgrades a request on `url` to SPDY/3.1 offering `protocols`; rejects with the status and body otherwise. */
export function spdyConnect(url: string, protocols: string[]): Promise<SpdyClient> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { Connection: 'Upgrade', Upgrade: SPDY_UPGRADE, 'X-Stream-Protocol-Version': protocols } });
    req.on('upgrade', (res, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      const session = connectSpdy(socket);
      session.on('error', () => socket.destroy());
      resolve({ session, socket, protocol: String(res.headers['x-stream-protocol-version'] ?? '') });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode}: ${body.trim()}`)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a client stream with Kubernetes headers. */
export function openStream(session: SpdySession, headers: Record<string, string>): Promise<SpdyStream> {
  return new Promise((resolve, reject) => {
    session.request({ method: 'POST', path: '/', headers }, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

/** Everything a readable sends until it ends. */
export function readAll(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (b: Buffer) => (text += b.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

/** The streams of a remotecommand session over SPDY. */
export interface RemoteCommand {
  client: SpdyClient;
  error: Promise<string>;
  stdin?: SpdyStream;
  stdout?: SpdyStream;
  stderr?: SpdyStream;
  resize?: SpdyStream;
}

/** Opens the streams client-go opens for an exec/attach (error first, then std streams, then resize). */
export async function spdyRemoteCommand(url: string, opts: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean; protocols?: string[] }): Promise<RemoteCommand> {
  const client = await spdyConnect(url, opts.protocols ?? ['v4.channel.k8s.io']);
  const errorStream = await openStream(client.session, { streamtype: 'error' });
  errorStream.end(); // client-go never writes on it
  const rc: RemoteCommand = { client, error: readAll(errorStream) };
  if (opts.stdin) rc.stdin = await openStream(client.session, { streamtype: 'stdin' });
  if (opts.stdout ?? true) rc.stdout = await openStream(client.session, { streamtype: 'stdout' });
  if (opts.stderr) rc.stderr = await openStream(client.session, { streamtype: 'stderr' });
  if (opts.tty) rc.resize = await openStream(client.session, { streamtype: 'resize' });
  for (const s of [rc.stdout, rc.stderr]) s?.end();
  return rc;
}

/** A WebSocket remotecommand or port-forward session, with what arrived per channel. */
export interface WsSession {
  ws: WebSocket;
  protocol: string;
  channels: Map<number, Buffer>;
  closed: Promise<void>;
  send(channel: number, data: Buffer | string): void;
}

/** Connects a channel WebSocket offering `protocols` (`options`: e.g. TLS settings for the kubelet's server). */
export function wsConnect(url: string, protocols: string[], options?: ClientOptions): Promise<WsSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, options);
    const channels = new Map<number, Buffer>();
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    ws.on('message', (raw: Buffer) => {
      const ch = raw[0] as number;
      channels.set(ch, Buffer.concat([channels.get(ch) ?? Buffer.alloc(0), raw.subarray(1)]));
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({ ws, protocol: ws.protocol, channels, closed, send: (channel, data) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)])) }),
    );
  });
}

/** One forwarded connection over a SPDY port-forward session: sends `payload`, returns what came back. */
export async function spdyForward(session: SpdySession, port: number, requestId: number, payload: string): Promise<{ data: string; error: string }> {
  const headers = { port: String(port), requestid: String(requestId) };
  const error = await openStream(session, { ...headers, streamtype: 'error' });
  error.end();
  const errorText = readAll(error);
  const data = await openStream(session, { ...headers, streamtype: 'data' });
  const dataText = readAll(data);
  data.write(payload);
  return { data: await dataText, error: await errorText };
}
