import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { nullLogger } from '../../lib/log';
import { deleteImage } from '../../lib/storage/image-removal';
import { isMounted, listMountsUnder, unmount } from '../../lib/storage/mount';
import { applyOneFileImage, openTestStore, testContainer } from './storage-fixtures';

/*
 * Volatile containers as c/storage ≥ 1.45 stores CRI-O's: the container's record in
 * overlay-containers/volatile-containers.json and its writable layer's in
 * overlay-layers/volatile-layers.json, written without fsync, the durable files left alone; a
 * restart (a new store over the same directories) keeps them; records of older versions stay in
 * the durable files; what a crash or a lost volatile file leaves is settled at the next start; and
 * volatile records another c/storage user wrote count as that store's containers.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts)' : false;
let tmp = '';
let graphRoot = '';
let runRoot = '';
let base = '';
const IMAGE = '1'.repeat(64);

const open = (volatileRecords = true): ReturnType<typeof openTestStore> => openTestStore(tmp, nullLogger(), { volatileRecords });
const file = (kind: 'layers' | 'containers', volatile: boolean): string =>
  path.join(graphRoot, kind === 'layers' ? 'overlay-layers' : 'overlay-containers', `${volatile ? 'volatile-' : ''}${kind}.json`);

interface Rec {
  id: string;
  layer?: string;
  flags?: Record<string, unknown>;
}
async function records(kind: 'layers' | 'containers', volatile: boolean): Promise<Rec[]> {
  return JSON.parse((await fs.readFile(file(kind, volatile), 'utf8').catch(() => '')) || '[]') as Rec[];
}
const ids = async (kind: 'layers' | 'containers', volatile: boolean): Promise<string[]> => (await records(kind, volatile)).map((r) => r.id);
/** A file's inode: an atomic rewrite (rename) gives it a new one. */
const ino = async (f: string): Promise<number> => (await fs.stat(f)).ino;
const exists = (p: string): Promise<boolean> => fs.stat(p).then(() => true, () => false);

/** What a reboot does to the run root: mounts gone, mountpoints.json (tmpfs) gone. */
async function reboot(): Promise<void> {
  const home = await fs.realpath(path.join(graphRoot, 'overlay'));
  for (const m of (await listMountsUnder(home)).filter((x) => x !== home)) await unmount(m, { detach: true });
  await fs.rm(path.join(runRoot, 'overlay-layers', 'mountpoints.json'), { force: true });
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-volatile-it-'));
  graphRoot = path.join(tmp, 'graph');
  runRoot = path.join(tmp, 'run');
  const { layers, images } = await open();
  base = await applyOneFileImage(layers, images, IMAGE);
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

test('a volatile container goes to the volatile files only, survives a restart, and its removal rewrites only them', { skip }, async () => {
  let s = await open();
  const layersIno = await ino(file('layers', false));
  const { rootfs, layerId } = await s.containers.create('v1', testContainer('v1', IMAGE));
  assert.deepEqual(await ids('containers', true), ['v1']);
  assert.deepEqual(await ids('containers', false), [], 'not in containers.json');
  const rw = (await records('layers', true)).find((l) => l.id === layerId);
  assert.ok(rw, 'the writable layer is in volatile-layers.json');
  assert.equal(rw.flags?.incomplete, undefined, 'complete');
  assert.ok(!(await ids('layers', false)).includes(layerId), 'not in layers.json');
  assert.equal(await ino(file('layers', false)), layersIno, 'layers.json was not rewritten');
  assert.equal((await records('containers', true))[0]?.flags?.Volatile, true);

  s = await open();
  assert.deepEqual(s.containers.list(), ['v1'], 'kept across a restart');
  assert.ok(await isMounted(rootfs));
  assert.equal(await s.containers.mountCount('v1'), 1);
  assert.equal(await s.layers.hasLayer(layerId), true);

  await s.containers.remove('v1');
  assert.deepEqual(await ids('containers', true), []);
  assert.deepEqual(await ids('layers', true), []);
  assert.equal(await ino(file('layers', false)), layersIno, 'removal left layers.json alone');
  assert.equal(await exists(path.join(s.layers.home, layerId)), false);
  assert.deepEqual((await open()).containers.list(), []);
});

test('containers of an older crio-ts stay in the durable files (listed, removable); new ones go volatile', { skip }, async () => {
  const old = await open(false);
  const o = await old.containers.create('old', testContainer('old', IMAGE));
  assert.deepEqual(await ids('containers', false), ['old']);
  assert.ok((await ids('layers', false)).includes(o.layerId));

  const s = await open(true);
  const n = await s.containers.create('new', testContainer('new', IMAGE));
  assert.deepEqual(s.containers.list(), ['new', 'old']);
  assert.deepEqual(await ids('containers', false), ['old']);
  assert.deepEqual(await ids('containers', true), ['new']);
  const volatileIno = await ino(file('containers', true));
  await s.containers.remove('old');
  assert.deepEqual(await ids('containers', false), []);
  assert.ok(!(await ids('layers', false)).includes(o.layerId));
  assert.equal(await ino(file('containers', true)), volatileIno, 'removing a durable container left the volatile file alone');
  assert.deepEqual(await ids('layers', true), [n.layerId]);
  await s.containers.remove('new');
});

test('a crash or a lost volatile file: the next start drops what lost its other half and leaves no layer, dir or mount behind', { skip }, async () => {
  const cases: { name: string; lose: (layerId: string) => Promise<void> }[] = [
    // Both records are written without fsync: either can be lost alone.
    { name: 'container record lost', lose: async () => fs.writeFile(file('containers', true), '[]') },
    { name: 'layer record lost', lose: async (l) => fs.writeFile(file('layers', true), JSON.stringify((await records('layers', true)).filter((r) => r.id !== l))) },
    { name: 'both volatile files gone', lose: async () => (await fs.rm(file('containers', true)), await fs.rm(file('layers', true))) },
  ];
  for (const c of cases) {
    const s = await open();
    const { layerId } = await s.containers.create('crash', testContainer('crash', IMAGE));
    await reboot();
    await c.lose(layerId);
    const after = await open();
    assert.deepEqual(after.containers.list(), [], `${c.name}: the container is gone`);
    assert.deepEqual(await ids('containers', true), [], `${c.name}: no container record`);
    assert.deepEqual(await ids('layers', true), [], `${c.name}: no writable layer record`);
    assert.equal(await exists(path.join(after.layers.home, layerId)), false, `${c.name}: no layer directory`);
    assert.deepEqual(await ids('layers', false), [base], `${c.name}: the image layer stays`);
    assert.equal(await after.layers.hasLayer(base), true);
    // The image is still usable.
    const again = await after.containers.create('again', testContainer('again', IMAGE));
    assert.ok(await isMounted(again.rootfs));
    await after.containers.remove('again');
  }
});

test('volatile records of another c/storage user (podman ≥ 4.4) are kept and protect their image', { skip }, async () => {
  const podmanLayer = 'a'.repeat(64);
  const podmanCtr = 'b'.repeat(64);
  const s0 = await open();
  await s0.layers.file.write((ls) => ({ records: [...ls, { id: podmanLayer, parent: base, created: new Date().toISOString() }], result: undefined, volatile: [podmanLayer] }));
  await fs.mkdir(path.join(s0.layers.home, podmanLayer, 'diff'), { recursive: true });
  await fs.writeFile(file('containers', true), JSON.stringify([{ id: podmanCtr, names: ['podman-rm'], image: IMAGE, layer: podmanLayer, flags: { Volatile: true } }]));

  const s = await open();
  assert.deepEqual(s.containers.list(), [], 'not a CRI-O container');
  assert.deepEqual(await ids('containers', true), [podmanCtr], 'kept at start');
  assert.ok((await ids('layers', true)).includes(podmanLayer), 'its layer kept (a container names it)');
  await assert.rejects(deleteImage({ layers: s.layers, images: s.images, containers: s.containers.store, id: IMAGE, deferLayers: false }), /in use by container/);
  await s.containers.create('mine', testContainer('mine', IMAGE));
  assert.deepEqual((await ids('containers', true)).sort(), [podmanCtr, 'mine'].sort(), 'our write keeps its record');
  await s.containers.remove('mine');
  assert.deepEqual(await ids('containers', true), [podmanCtr]);
  await fs.writeFile(file('containers', true), '[]');
  await s.layers.removeLayer(podmanLayer);
});
