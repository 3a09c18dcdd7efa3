import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of the test registry that can stall: while `stalled` is set, a GET of
 * one of the `blobs` answers its headers and first bytes, then nothing more (the connection
 * stays open), as a registry or a network path that hangs mid-transfer does.
 */
export interface StallProxy {
  /** `127.0.0.1:PORT`. */
  host: string;
  stalled: boolean;
  /** How many transfers are being held right now. */
  held(): number;
  /** Ends the held transfers. */
  release(): void;
  close(): Promise<void>;
}

export async function startStallProxy(upstream: string, blobs: readonly string[]): Promise<StallProxy> {
  const [upHost, upPort] = upstream.split(':');
  const holding = new Set<http.ServerResponse>();
  const state = { stalled: false };
  const server = http.createServer((req, res) => {
    const up = http.request({ host: upHost, port: Number(upPort), path: req.url, method: req.method, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      const stall = state.stalled && req.method === 'GET' && blobs.some((d) => req.url?.endsWith(`/blobs/${d}`));
      if (!stall) {
        ures.pipe(res);
        return;
      }
      holding.add(res);
      res.on('close', () => holding.delete(res));
      ures.once('data', (chunk: Buffer) => {
        res.write(chunk.subarray(0, 512));
        ures.destroy();
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    get stalled() {
      return state.stalled;
    },
    set stalled(v: boolean) {
      state.stalled = v;
    },
    held: () => holding.size,
    release: () => {
      for (const r of holding) r.destroy();
      holding.clear();
    },
    close: async () => {
      for (const r of holding) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
