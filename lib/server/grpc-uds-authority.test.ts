import assert from 'node:assert/strict';
import { test } from 'node:test';
import hpack from 'hpack.js';
import { AuthorityRewriter, isValidAuthority } from './grpc-uds-authority';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

const settings = frame(0x4, 0, 0, Buffer.alloc(0));

/** Parses the output back into header lists per HEADERS frame (HEADERS|END_HEADERS only). */
function decodeRequests(out: Buffer): { streamId: number; headers: Record<string, string> }[] {
  const dec = hpack.decompressor.create({ table: { size: 4096 } });
  let buf = out.subarray(PREFACE.length);
  const result = [];
  while (buf.length >= 9) {
    const len = buf.readUIntBE(0, 3);
    const type = buf[3];
    const streamId = buf.readUInt32BE(5);
    const payload = buf.subarray(9, 9 + len);
    buf = buf.subarray(9 + len);
    if (type !== 0x1) continue;
    dec.write(payload);
    dec.execute();
    const headers: Record<string, string> = {};
    for (let h = dec.read(); h !== null; h = dec.read()) headers[h.name] = h.value;
    result.push({ streamId, headers });
  }
  return result;
}

function clientBytes(authority: string, requests: number): Buffer {
  const enc = hpack.compressor.create({ table: { size: 4096 } });
  const parts = [PREFACE, settings];
  for (let i = 0; i < requests; i++) {
    enc.write([
      { name: ':method', value: 'POST' },
      { name: ':scheme', value: 'http' },
      { name: ':path', value: '/runtime.v1.RuntimeService/Version' },
      { name: ':authority', value: authority },
      { name: 'content-type', value: 'application/grpc' },
    ]);
    parts.push(frame(0x1, 0x4, 1 + 2 * i, enc.read() ?? Buffer.alloc(0)), frame(0x0, 0x1, 1 + 2 * i, Buffer.from([0, 0, 0, 0, 0])));
  }
  return Buffer.concat(parts);
}

const validity: [string, boolean][] = [
  ['localhost', true],
  ['127.0.0.1:10010', true],
  ['[::1]:1', true],
  ['/var/run/crio/crio.sock', false],
  ['', true],
];
for (const [value, ok] of validity) test(`isValidAuthority ${JSON.stringify(value)}`, () => assert.equal(isValidAuthority(value), ok));

test('a socket-path :authority is rewritten to localhost in every request, byte by byte too', () => {
  const input = clientBytes('/var/run/crio/crio.sock', 3);
  const r = new AuthorityRewriter();
  // Feed one byte at a time: frames must be reassembled across chunk boundaries.
  const out = Buffer.concat([...input].map((b) => r.transform(Buffer.from([b]))));
  assert.ok(r.rewriting);
  const reqs = decodeRequests(out);
  assert.deepEqual(reqs.map((q) => q.streamId), [1, 3, 5]);
  for (const q of reqs) {
    assert.equal(q.headers[':authority'], 'localhost');
    assert.equal(q.headers[':path'], '/runtime.v1.RuntimeService/Version');
  }
});

test('a valid :authority leaves the connection byte-identical', () => {
  const input = clientBytes('localhost', 2);
  const r = new AuthorityRewriter();
  const out = Buffer.concat([r.transform(input.subarray(0, 50)), r.transform(input.subarray(50))]);
  assert.equal(r.rewriting, false);
  assert.ok(out.equals(input));
});
