import { watch, promises as fs, readFileSync, type FSWatcher } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { asError, errnoCode, InvalidArgumentError } from '../errors';
import type { Logger } from '../log';

/**
 * The Prometheus endpoint: `GET /metrics` on metrics_host:metrics_port and, when set, also on
 * the unix socket metrics_socket (CRI-O serves both). With metrics_cert and metrics_key it is
 * HTTPS, and the pair is re-read when either file changes (cert rotation without a restart).
 */

/** Where and how to serve. */
export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port (logged). */
  port: number;
  /** '' = TCP only. */
  socket: string;
  cert: string;
  key: string;
  /** The exposition text and its content type. */
  render: () => Promise<{ body: string; contentType: string }>;
  log: Logger;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The TCP port actually bound. */
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the endpoint; throws InvalidArgumentError naming the key when it cannot listen or read the TLS files. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url?.split('?')[0];
    if (url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    options.render().then(
      ({ body, contentType }) => {
        res.writeHead(200, { 'Content-Type': contentType }).end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        options.log.warn('metrics collection failed', { err: asError(err).message });
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics collection failed: ${asError(err).message}\n`);
      },
    );
  };
  const tls = options.cert !== '' && options.key !== '';
  const servers: Array<http.Server | https.Server> = [];
  const watchers: FSWatcher[] = [];
  const make = (): http.Server | https.Server => {
    const s = tls ? https.createServer(readKeyPair(options.cert, options.key), handler) : http.createServer(handler);
    servers.push(s);
    return s;
  };
  try {
    const tcp = make();
    await listen(tcp, (s, cb) => s.listen(options.port, options.host, cb), `crio.metrics.metrics_host/metrics_port ${options.host}:${options.port}`);
    const port = (tcp.address() as AddressInfo).port;
    if (options.socket !== '') {
      await fs.mkdir(path.dirname(options.socket), { recursive: true });
      await fs.unlink(options.socket).catch((err: unknown) => {
        if (errnoCode(err) !== 'ENOENT') throw err;
      });
      await listen(make(), (s, cb) => s.listen(options.socket, cb), `crio.metrics.metrics_socket ${options.socket}`);
    }
    if (tls) watchers.push(...watchKeyPair(options, servers as https.Server[]));
    options.log.info('serving metrics', { address: `${options.host}:${port}`, socket: options.socket || undefined, tls });
    return {
      port,
      close: async () => {
        for (const w of watchers) w.close();
        await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      },
    };
  } catch (err) {
    for (const w of watchers) w.close();
    for (const s of servers) s.close();
    throw err;
  }
}

function listen<S extends http.Server>(server: S, start: (s: S, cb: () => void) => void, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new InvalidArgumentError(`metrics endpoint: cannot listen on ${what}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    start(server, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function readKeyPair(cert: string, key: string): { cert: Buffer; key: Buffer } {
  const read = (file: string, setting: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new InvalidArgumentError(`crio.metrics.${setting}: cannot read ${file}: ${asError(err).message}`, { cause: err });
    }
  };
  return { cert: read(cert, 'metrics_cert'), key: read(key, 'metrics_key') };
}

/** Re-reads the key pair when either file (or its directory entry) changes; a bad pair keeps the old one. */
function watchKeyPair(options: MetricsServerOptions, servers: https.Server[]): FSWatcher[] {
  const names = new Set([path.basename(options.cert), path.basename(options.key)]);
  let timer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    try {
      const pair = readKeyPair(options.cert, options.key);
      for (const s of servers) s.setSecureContext(pair);
      options.log.info('metrics certificate reloaded', { cert: options.cert });
    } catch (err) {
      options.log.warn('metrics certificate reload failed; keeping the old one', { err: asError(err).message });
    }
  };
  const dirs = new Set([path.dirname(options.cert), path.dirname(options.key)]);
  return [...dirs].map((dir) =>
    watch(dir, (_event, file) => {
      if (file && !names.has(file.toString())) return;
      // Writers replace cert and key one after the other: wait for both.
      clearTimeout(timer);
      timer = setTimeout(reload, 500);
      timer.unref();
    }).on('error', (err) => options.log.warn('metrics certificate watch failed', { err: err.message })),
  );
}
