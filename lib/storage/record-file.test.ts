import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RecordFile } from './record-file';

let tmp = '';
let n = 0;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-record-file-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

interface R {
  id: string;
  v?: number;
}

/** A fresh store dir: durable and volatile file paths and a RecordFile over them. */
async function store(): Promise<{ durable: string; volatile: string; open: () => RecordFile<R> }> {
  const dir = path.join(tmp, `s${n++}`);
  await fs.mkdir(dir);
  const durable = path.join(dir, 'layers.json');
  const volatile = path.join(dir, 'volatile-layers.json');
  return { durable, volatile, open: () => new RecordFile<R>(durable, path.join(dir, 'layers.lock'), { volatileFile: volatile }) };
}

const ids = async (file: string): Promise<string[]> => ((JSON.parse(await fs.readFile(file, 'utf8')) as R[]) ?? []).map((r) => r.id);
/** The inode of a file: atomic rename gives a rewritten file a new one. */
const ino = async (file: string): Promise<number> => (await fs.stat(file)).ino;

test('record file: volatile records go to the volatile file, others to the durable one, each rewritten only when its records change', async () => {
  const s = await store();
  const f = s.open();
  await f.write(() => ({ records: [{ id: 'img' }], result: undefined }));
  assert.deepEqual(await ids(s.durable), ['img']);
  await assert.rejects(fs.stat(s.volatile), /ENOENT/, 'no volatile file until a volatile record exists');
  const durableIno = await ino(s.durable);

  await f.write((rs) => ({ records: [...rs, { id: 'rw1' }], result: undefined, volatile: ['rw1'] }));
  assert.deepEqual(await ids(s.volatile), ['rw1']);
  assert.equal(await ino(s.durable), durableIno, 'layers.json not rewritten for a volatile record');
  assert.equal(await f.read(() => f.locationOf('rw1')), 'volatile');

  const volatileIno = await ino(s.volatile);
  await f.write((rs) => ({ records: rs.map((r) => (r.id === 'rw1' ? { ...r, v: 1 } : r)), result: undefined }));
  assert.notEqual(await ino(s.volatile), volatileIno, 'a changed volatile record rewrites the volatile file');
  assert.equal(await ino(s.durable), durableIno);

  await f.write((rs) => ({ records: rs.filter((r) => r.id !== 'rw1'), result: undefined }));
  assert.deepEqual(await ids(s.volatile), [], 'removal rewrites the volatile file');
  assert.equal(await ino(s.durable), durableIno, 'and only it');

  const before = await ino(s.volatile);
  await f.write((rs) => ({ records: [...rs, { id: 'img2' }], result: undefined }));
  assert.deepEqual(await ids(s.durable), ['img', 'img2']);
  assert.equal(await ino(s.volatile), before, 'a durable record leaves the volatile file alone');
});

test('record file: records of older versions in the durable file stay there until removed', async () => {
  const s = await store();
  await fs.writeFile(s.durable, JSON.stringify([{ id: 'img' }, { id: 'old-rw', v: 0 }]));
  const f = s.open();
  await f.write((rs) => ({ records: [...rs.map((r) => (r.id === 'old-rw' ? { ...r, v: 1 } : r)), { id: 'rw' }], result: undefined, volatile: ['rw', 'old-rw'] }));
  assert.deepEqual(await ids(s.durable), ['img', 'old-rw'], 'the old record is changed where it is');
  assert.deepEqual(await ids(s.volatile), ['rw']);
  await f.write((rs) => ({ records: rs.filter((r) => r.id !== 'old-rw'), result: undefined }));
  assert.deepEqual(await ids(s.durable), ['img']);
  assert.deepEqual(await ids(s.volatile), ['rw']);
});

test('record file: a reader merges both files; another writer’s volatile records are seen; a missing volatile file loses only its records', async () => {
  const s = await store();
  const f = s.open();
  await f.write(() => ({ records: [{ id: 'img' }, { id: 'rw' }], result: undefined, volatile: ['rw'] }));
  const g = s.open();
  assert.deepEqual(await g.read((rs) => rs.map((r) => [r.id, g.locationOf(r.id)])), [
    ['img', 'durable'],
    ['rw', 'volatile'],
  ]);
  // podman ≥ 4.4 (c/storage ≥ 1.45) writes a Volatile container's layer there.
  await fs.writeFile(s.volatile, JSON.stringify([{ id: 'rw' }, { id: 'podman-rw' }]));
  await fs.utimes(s.volatile, new Date(), new Date(Date.now() + 5000));
  assert.deepEqual(await f.read((rs) => rs.map((r) => r.id)), ['img', 'rw', 'podman-rw']);
  await fs.rm(s.volatile);
  assert.deepEqual(await f.read((rs) => rs.map((r) => r.id)), ['img']);
  assert.deepEqual(await s.open().read((rs) => rs.map((r) => r.id)), ['img']);
});

test('record file: a store without a volatile file writes its one file on every save, as before', async () => {
  const dir = path.join(tmp, 'single');
  await fs.mkdir(dir);
  const file = path.join(dir, 'images.json');
  const f = new RecordFile<R>(file, path.join(dir, 'images.lock'));
  await f.write(() => ({ records: [{ id: 'a' }], result: undefined, volatile: ['a'] }));
  assert.deepEqual(await ids(file), ['a'], 'no volatile file: volatile IDs are durable');
  const first = await ino(file);
  await f.write((rs) => ({ records: [...rs], result: undefined }));
  assert.notEqual(await ino(file), first);
  assert.deepEqual(await fs.readdir(dir).then((d) => d.filter((x) => x.startsWith('volatile'))), []);
});
