import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { FailedPreconditionError, NotFoundError } from '../errors';
import { ContentStore, type BlobSource } from './content-store';
import { sha256Digest } from './manifest';

let root = '';
let store: ContentStore;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'content-'));
  store = new ContentStore(root);
  await store.init();
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function dirEntries(sub: string): Promise<string[]> {
  return fs.readdir(path.join(root, sub));
}

const data = Buffer.from('hello content store');
const good = { digest: sha256Digest(data), size: data.length };

const putCases: { name: string; expected: { digest: string; size: number }; source: () => BlobSource; error?: RegExp }[] = [
  { name: 'buffer', expected: good, source: () => data },
  { name: 'stream in chunks', expected: good, source: () => Readable.from([data.subarray(0, 5), data.subarray(5)]) },
  {
    name: 'digest mismatch names both digests',
    expected: { digest: sha256Digest('other'), size: data.length },
    source: () => data,
    error: new RegExp(`digest mismatch: expected ${sha256Digest('other')}, got ${good.digest}`),
  },
  { name: 'short', expected: { digest: good.digest, size: data.length + 1 }, source: () => data, error: /size mismatch/ },
  { name: 'long', expected: { digest: good.digest, size: data.length - 1 }, source: () => data, error: /more data than the declared size/ },
];

for (const c of putCases) {
  test(`put: ${c.name}`, async () => {
    await store.delete(c.expected.digest);
    await store.delete(good.digest);
    const p = store.put(c.expected, c.source());
    if (c.error) {
      const re = c.error;
      await assert.rejects(p, (err: unknown) => err instanceof FailedPreconditionError && re.test(err.message));
      assert.deepEqual(await dirEntries('blobs/sha256'), []);
    } else {
      await p;
      assert.deepEqual(await store.read(good.digest), data);
      assert.equal(await store.has(good.digest), true);
      assert.deepEqual(await store.list(), [good.digest]);
    }
    assert.deepEqual(await dirEntries('ingest'), []);
  });
}

test('a failing source leaves nothing behind', async () => {
  const source = new Readable({
    read() {
      this.destroy(new Error('connection reset'));
    },
  });
  await assert.rejects(store.put(good, source), /connection reset/);
  assert.deepEqual(await dirEntries('ingest'), []);
});

test('stage keeps a verified file in ingest until removed', async () => {
  const staged = await store.stage(good, data);
  assert.deepEqual(await fs.readFile(staged.path), data);
  assert.equal(path.dirname(staged.path), path.join(root, 'ingest'));
  await staged.remove();
  assert.deepEqual(await dirEntries('ingest'), []);
});

test('read of a missing blob is NotFoundError', async () => {
  await assert.rejects(store.read(sha256Digest('missing')), NotFoundError);
});

test('init removes stale ingest files', async () => {
  await fs.writeFile(path.join(root, 'ingest', 'stale'), 'x');
  await store.init();
  assert.deepEqual(await dirEntries('ingest'), []);
});
