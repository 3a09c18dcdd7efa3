import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { ImageStore, type ImageRecord } from './image-store';

let root = '';
let store: ImageStore;

const ID1 = '1'.repeat(60) + 'aaaa';
const ID2 = '1'.repeat(60) + 'bbbb';
const ID3 = '3'.repeat(64);
const MD = 'sha256:' + 'd'.repeat(64);

function record(id: string, repoTags: string[], repoDigests: string[] = [], pulledAt = Date.now()): ImageRecord {
  return {
    id,
    repoTags,
    repoDigests,
    size: 1,
    manifestDigest: MD,
    configDigest: `sha256:${id}`,
    layers: [],
    config: { user: '', env: [], entrypoint: [], cmd: ['sh'], workingDir: '', stopSignal: '', volumes: [], labels: {}, exposedPorts: [] },
    pulledAt,
  };
}

beforeEach(async () => {
  if (root) await fs.rm(root, { recursive: true, force: true });
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'images-'));
  store = new ImageStore(root);
  await store.load();
  await store.add(record(ID1, ['docker.io/library/busybox:latest', 'docker.io/library/busybox:1'], [`docker.io/library/busybox@${MD}`], 1));
  await store.add(record(ID2, ['quay.io/x/y:2'], [], 2));
  await store.add(record(ID3, [], [`quay.io/z/w@${MD}`], 3));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const lookupCases: { name: string; key: string; want: string | undefined }[] = [
  { name: 'full id', key: ID1, want: ID1 },
  { name: 'sha256:id', key: `sha256:${ID2}`, want: ID2 },
  { name: 'unique prefix', key: '333', want: ID3 },
  { name: 'unique longer prefix', key: '1'.repeat(60) + 'b', want: ID2 },
  { name: 'ambiguous prefix', key: '1111', want: undefined },
  { name: 'short name tag', key: 'busybox', want: ID1 },
  { name: 'qualified tag', key: 'docker.io/library/busybox:1', want: ID1 },
  { name: 'repo digest', key: `busybox@${MD}`, want: ID1 },
  { name: 'repo digest of another repo', key: `quay.io/z/w@${MD}`, want: ID3 },
  { name: 'unknown tag', key: 'busybox:2', want: undefined },
  { name: 'malformed', key: 'Not A Ref', want: undefined },
  { name: 'empty', key: '', want: undefined },
];

for (const c of lookupCases) {
  test(`lookup: ${c.name}`, () => {
    assert.equal(store.lookup(c.key)?.id, c.want);
  });
}

test('records survive a reload', async () => {
  const again = new ImageStore(root);
  await again.load();
  assert.deepEqual(again.list(), store.list());
});

test('adding a tag moves it from the image that had it', async () => {
  await store.add(record(ID2, ['docker.io/library/busybox:1'], [], 4));
  assert.deepEqual(store.get(ID1)?.repoTags, ['docker.io/library/busybox:latest']);
  assert.deepEqual(store.get(ID2)?.repoTags, ['quay.io/x/y:2', 'docker.io/library/busybox:1']);
  const again = new ImageStore(root);
  await again.load();
  assert.deepEqual(again.get(ID1)?.repoTags, ['docker.io/library/busybox:latest']);
});

test('a tag on two records after a crash stays with the newest', async () => {
  const file = path.join(root, 'images', `${ID3}.json`);
  const doc = JSON.parse(await fs.readFile(file, 'utf8')) as ImageRecord;
  await fs.writeFile(file, JSON.stringify({ ...doc, repoTags: ['quay.io/x/y:2'] }));
  const again = new ImageStore(root);
  await again.load();
  assert.deepEqual(again.get(ID2)?.repoTags, []);
  assert.deepEqual(again.get(ID3)?.repoTags, ['quay.io/x/y:2']);
});

const removeCases: { name: string; key: string; deleted: boolean | undefined; remaining: string[]; tagsOf1?: string[] }[] = [
  { name: 'by tag with other tags: untag only', key: 'busybox:1', deleted: false, remaining: [ID1, ID2, ID3], tagsOf1: ['docker.io/library/busybox:latest'] },
  { name: 'by last tag: image goes', key: 'quay.io/x/y:2', deleted: true, remaining: [ID1, ID3] },
  { name: 'by id: image goes with all tags', key: ID1, deleted: true, remaining: [ID2, ID3] },
  { name: 'by id prefix', key: '333', deleted: true, remaining: [ID1, ID2] },
  { name: 'by repo digest', key: `busybox@${MD}`, deleted: true, remaining: [ID2, ID3] },
  { name: 'missing', key: 'nothing:here', deleted: undefined, remaining: [ID1, ID2, ID3] },
];

for (const c of removeCases) {
  test(`remove: ${c.name}`, async () => {
    const r = await store.remove(c.key);
    assert.equal(r?.deleted, c.deleted);
    assert.deepEqual(store.list().map((i) => i.id), c.remaining);
    if (c.tagsOf1) assert.deepEqual(store.get(ID1)?.repoTags, c.tagsOf1);
    const files = (await fs.readdir(path.join(root, 'images'))).sort();
    assert.deepEqual(files, c.remaining.map((id) => `${id}.json`).sort());
  });
}
