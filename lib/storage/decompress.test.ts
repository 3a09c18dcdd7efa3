import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { decompressorFor, detectCompression, peek, ZstdDecompressor } from './decompress';

const cases: { name: string; head: number[]; want: string | RegExp }[] = [
  { name: 'gzip', head: [0x1f, 0x8b, 8, 0, 0, 0], want: 'gzip' },
  { name: 'zstd frame', head: [0x28, 0xb5, 0x2f, 0xfd, 0, 0], want: 'zstd' },
  { name: 'zstd skippable frame', head: [0x5e, 0x2a, 0x4d, 0x18, 0, 0], want: 'zstd' },
  { name: 'tar', head: [0x62, 0x69, 0x6e, 0x2f, 0, 0], want: 'none' },
  { name: 'bzip2', head: [0x42, 0x5a, 0x68, 0x39, 0, 0], want: /bzip2-compressed/ },
  { name: 'xz', head: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], want: /xz-compressed/ },
];
for (const c of cases) {
  test(`detectCompression: ${c.name}`, () => {
    if (typeof c.want === 'string') assert.equal(detectCompression(Buffer.from(c.head), 'blob'), c.want);
    else assert.throws(() => detectCompression(Buffer.from(c.head), 'blob'), c.want);
  });
}

test('peek leaves the stream whole, even across small chunks', async () => {
  const r = Readable.from([Buffer.from('ab'), Buffer.from('cdef'), Buffer.from('gh')], { objectMode: false });
  assert.equal((await peek(r, 5)).toString(), 'abcde');
  assert.equal(await text(r), 'abcdefgh');
  assert.equal((await peek(Readable.from([Buffer.from('x')]), 6)).toString(), 'x');
});

test('gzip round trip through decompressorFor', async () => {
  const out = await text(Readable.from([gzipSync(Buffer.from('hello gzip'))]).pipe(decompressorFor('gzip', 'b')));
  assert.equal(out, 'hello gzip');
});

test('zstd: several frames (and a skippable one) decode in small chunks', { skip: existsSync('/usr/bin/zstd') ? false : 'zstd missing' }, async () => {
  const z = (s: string): Buffer => execFileSync('zstd', ['-q', '-c'], { input: Buffer.from(s) });
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
  const all = Buffer.concat([skippable, z('first frame '.repeat(1000)), z('second')]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += 7) chunks.push(all.subarray(i, i + 7));
  assert.equal(await text(Readable.from(chunks).pipe(new ZstdDecompressor('b'))), 'first frame '.repeat(1000) + 'second');
});

test('zstd: garbage is a FailedPreconditionError naming the blob', async () => {
  const bad = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64, 0xff)]);
  await assert.rejects(pipeline(Readable.from([bad]), new ZstdDecompressor('layer 3'), async function* (src) {
    for await (const _ of src) yield _;
  }), (e: unknown) => e instanceof Error && /layer 3: invalid zstd data/.test(e.message));
});
