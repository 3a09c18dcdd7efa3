import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { FailedPreconditionError } from '../errors';
import { nullLogger } from '../log';
import { setUnpackWorkerIdleExit, unpackInWorker } from './unpack-pool';

/** A tar of `files` (name → content), built in memory. */
async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const [name, body] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) => p.entry({ name, mode: 0o644, mtime: new Date(1_600_000_000_000) }, body, (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
/** `data` as a stream of separately allocated 64 KiB chunks, as a socket delivers a download. */
const download = (data: Buffer): Readable => Readable.from(Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => Buffer.from(data.subarray(i * 65536, (i + 1) * 65536))));

let tmp = '';
let n = 0;
const fresh = async (): Promise<string> => {
  const dir = path.join(tmp, String(n++));
  await fs.mkdir(dir);
  return dir;
};
const opts = { log: nullLogger(), signal: new AbortController().signal };

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'unpack-pool-'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('a gzip blob is decompressed, checked against its DiffID and unpacked on a worker', async () => {
  const big = 'x'.repeat(300_000) + Math.random().toString();
  const tar = await tarOf({ 'a.txt': 'alpha\n', 'big.bin': big });
  const dir = await fresh();
  const result = await unpackInWorker(download(gzipSync(tar)), dir, { ...opts, decode: { compression: 'gzip', what: 'layer 0 (blob) of test', diffId: sha(tar) } });
  assert.equal(await fs.readFile(path.join(dir, 'a.txt'), 'utf8'), 'alpha\n');
  assert.equal(await fs.readFile(path.join(dir, 'big.bin'), 'utf8'), big);
  assert.equal(result.split.size, tar.length);
  assert.equal(result.unpack.entries, 2);
});

test('blob failures come back typed and naming the blob', async (t) => {
  const tar = await tarOf({ 'a.txt': 'alpha\n'.repeat(10_000) });
  const gz = gzipSync(tar);
  const corrupt = Buffer.from(gz);
  corrupt[Math.floor(corrupt.length / 2)] ^= 0xff;
  const cases: { name: string; blob: Buffer; diffId: string; message: RegExp }[] = [
    { name: 'wrong DiffID', blob: gz, diffId: sha(Buffer.from('other')), message: /^layer X: uncompressed content does not match the config's diff_id: digest mismatch/ },
    { name: 'corrupt gzip', blob: corrupt, diffId: sha(tar), message: /^layer X: corrupt gzip data: / },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const run = unpackInWorker(download(c.blob), await fresh(), { ...opts, decode: { compression: 'gzip', what: 'layer X', diffId: c.diffId } });
      await assert.rejects(run, (e: unknown) => e instanceof FailedPreconditionError && c.message.test(e.message));
    });
  }
});

test('a stream that failed before the unpack listened fails the unpack with its error', async () => {
  const s = new PassThrough();
  s.on('error', () => undefined);
  const cause = new FailedPreconditionError('blob digest mismatch');
  s.destroy(cause);
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(unpackInWorker(s, await fresh(), { ...opts, decode: { compression: 'gzip', what: 'layer Y', diffId: sha(Buffer.alloc(0)) } }), (e: unknown) => e === cause);
});

test("a plain tar's chunks are copied, not moved: a source may send one buffer many times", async () => {
  const tar = await tarOf({ 'z.bin': '\0'.repeat(4 * 65536) });
  const header = tar.subarray(0, 512);
  const zeros = Buffer.alloc(65536);
  const tail = tar.subarray(512 + 4 * 65536);
  const dir = await fresh();
  await unpackInWorker(Readable.from([header, zeros, zeros, zeros, zeros, tail]), dir, opts);
  assert.equal(zeros.length, 65536, 'the reused buffer is still ours');
  assert.equal((await fs.stat(path.join(dir, 'z.bin'))).size, 4 * 65536);
});

test('a layer that comes as an idle worker exits gets a live worker', async () => {
  setUnpackWorkerIdleExit(0);
  try {
    const tar = await tarOf({ 'a.txt': 'alpha\n' });
    for (let i = 0; i < 5; i++) {
      await unpackInWorker(Readable.from([tar]), await fresh(), opts);
      // The idle timer (0 ms) fires first: the worker is terminating, its exit not yet seen.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    setUnpackWorkerIdleExit(5_000);
  }
});
