import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { routeConnection, sniffProtocol } from './connection-sniff';

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

const cases: { name: string; head: string; want: 'http1' | 'http2' | undefined }[] = [
  { name: 'HTTP/2 preface', head: PREFACE, want: 'http2' },
  { name: 'preface with a frame after it', head: `${PREFACE}\x00\x00\x00\x04`, want: 'http2' },
  { name: 'first 4 bytes of the preface', head: 'PRI ', want: 'http2' },
  { name: 'too few bytes to tell', head: 'PR', want: undefined },
  { name: 'nothing yet', head: '', want: undefined },
  { name: 'GET', head: 'GET /info HTTP/1.1\r\n', want: 'http1' },
  { name: 'POST shares the P', head: 'PO', want: 'http1' },
  { name: 'PUT', head: 'PUT / HTTP/1.1\r\n', want: 'http1' },
  { name: 'garbage', head: '\x16\x03\x01', want: 'http1' },
];
for (const c of cases) test(`sniffProtocol: ${c.name}`, () => assert.equal(sniffProtocol(Buffer.from(c.head, 'latin1')), c.want));

test('routeConnection: the chosen handler reads every byte, also when the first ones arrive alone', async () => {
  const seen: { protocol: string; bytes: string }[] = [];
  const server = net.createServer((socket) =>
    routeConnection(socket, {
      http1: (s) => collect(s, 'http1'),
      http2: (s) => collect(s, 'http2'),
    }),
  );
  const done: Promise<void>[] = [];
  const collect = (s: net.Socket, protocol: string): void => {
    done.push(
      new Promise((resolve) => {
        let bytes = '';
        s.on('data', (b: Buffer) => (bytes += b.toString('latin1')));
        s.on('end', () => {
          seen.push({ protocol, bytes });
          s.end();
          resolve();
        });
        s.resume();
      }),
    );
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const send = async (parts: string[]): Promise<void> => {
    const c = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => c.once('connect', () => resolve()));
    for (const p of parts) {
      c.write(Buffer.from(p, 'latin1'));
      await new Promise((r) => setTimeout(r, 20));
    }
    c.end();
    await new Promise<void>((resolve) => c.once('close', () => resolve()));
  };
  await send(['P', 'RI * HTTP/2.0', '\r\n\r\nSM\r\n\r\nframes']);
  await send(['G', 'ET /info HTTP/1.1\r\n\r\n']);
  await Promise.all(done);
  server.close();
  assert.deepEqual(seen, [
    { protocol: 'http2', bytes: `${PREFACE}frames` },
    { protocol: 'http1', bytes: 'GET /info HTTP/1.1\r\n\r\n' },
  ]);
});
