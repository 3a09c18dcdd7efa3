import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pack, type Header } from 'tar-stream';
import { backgroundContext, type OpContext } from '../../lib/context';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors';
import type { ContainerLayers } from '../../lib/storage/container-layers';
import type { ImageRecords } from '../../lib/storage/image-records';
import { deleteImage } from '../../lib/storage/image-removal';
import type { LayerGc } from '../../lib/storage/layer-gc';
import { inventoryOf, type LayerStore } from '../../lib/storage/layer-store';
import { isMounted, listMountsUnder, unmount } from '../../lib/storage/mount';
import { layerIdOf } from '../../lib/storage/store-records';
import { assembleTar, parseTarSplit } from '../../lib/storage/tar-split';
import { nullLogger } from '../../lib/log';
import { openTestStore, recordImage, testContainer } from './storage-fixtures';

/*
 * The layer, image and container stores in containers/storage's layout on a real overlay mount:
 * layers.json records and tar-split, reference rules (images, containers, children), collection
 * of crio-ts's own leftovers only, and the start-up clean-up. Everything lives in one temp dir
 * under os.tmpdir(); `after` unmounts whatever is left below it, innermost first, and deletes it.
 */

/** The consumer-side interface image pulls use, duplicated to check LayerStore fits it. */
interface LayerSink {
  hasLayer(layerId: string): Promise<boolean>;
  applyLayer(params: { layerId: string; parentLayerId: string | undefined; diffId: string; tar: Readable }, ctx: OpContext): Promise<void>;
  removeLayer?(layerId: string): Promise<void>;
  usage?(): Promise<{ bytes: number; inodes: number }>;
}

interface E {
  header: Partial<Header> & { name: string };
  body?: string;
}

async function buildTar(entries: readonly E[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ mtime: new Date(1_600_000_000_000), mode: 0o644, ...e.header }, e.body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (s: string | Buffer): string => 'sha256:' + createHash('sha256').update(s).digest('hex');
const DIR = { type: 'directory', mode: 0o755 } as const;
const IMAGE_A = 'a'.repeat(64);
const IMAGE_B = 'b'.repeat(64);

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts, mknod, trusted xattrs)' : false;
const ctx = backgroundContext(nullLogger());
let tmp = '';
let store: LayerStore;
let images: ImageRecords;
let containers: ContainerLayers;
let gc: LayerGc;
let graphRoot = '';
let id1 = '';
let id2 = '';
let id3 = '';
let layers: { tar: Buffer; diff: string; chain: string; parent: string | undefined }[] = [];

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-storage-it-'));
  const opened = await openTestStore(tmp);
  ({ layers: store, images, containers, gc, graphRoot } = opened);
  const tars = [
    await buildTar([
      { header: { name: 'etc', ...DIR } },
      { header: { name: 'etc/gone' }, body: 'to be deleted' },
      { header: { name: 'etc/stays' }, body: 'still here' },
      { header: { name: 'data', ...DIR } },
      { header: { name: 'data/old1' }, body: '1' },
      { header: { name: 'data/sub', ...DIR } },
      { header: { name: 'data/sub/old2' }, body: '2' },
      { header: { name: 'var', ...DIR } },
      { header: { name: 'var/cache', ...DIR } },
      { header: { name: 'var/cache/big' }, body: 'cached' },
    ]),
    await buildTar([
      { header: { name: 'etc', ...DIR } },
      { header: { name: 'etc/.wh.gone' } },
      { header: { name: 'data', ...DIR } },
      { header: { name: 'data/.wh..wh..opq' } },
      { header: { name: 'data/new' }, body: 'fresh' },
      { header: { name: 'var/.wh.cache' } },
    ]),
    // Re-creates a directory a lower layer deleted.
    await buildTar([
      { header: { name: 'var', ...DIR } },
      { header: { name: 'var/cache', ...DIR } },
      { header: { name: 'var/cache/again' }, body: 'back' },
    ]),
  ];
  let parent: string | undefined;
  layers = tars.map((tar) => {
    const diff = sha(tar);
    const chain = layerIdOf(parent, diff);
    const l = { tar, diff, chain, parent };
    parent = chain;
    return l;
  });
  [id1, id2, id3] = layers.map((l) => l.chain) as [string, string, string];
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

async function layerDirNames(): Promise<string[]> {
  return (await fs.readdir(store.home)).filter((n) => n !== 'l' && n !== 'crio-staging').sort();
}

async function layersJson(): Promise<{ id: string; parent?: string; names?: string[]; flags?: Record<string, unknown>; [k: string]: unknown }[]> {
  return JSON.parse(await fs.readFile(path.join(graphRoot, 'overlay-layers', 'layers.json'), 'utf8')) as { id: string }[];
}

function apply(i: number, tar?: Readable): Promise<void> {
  const l = layers[i];
  if (!l) throw new Error(`no layer ${i}`);
  return store.applyLayer({ layerId: l.chain, parentLayerId: l.parent, diffId: l.diff, tar: tar ?? Readable.from([l.tar]) }, ctx);
}

test('applies a three-layer image in the overlay layout, with records c/storage reads and tar-split that rebuilds each tar', { skip }, async () => {
  const sink: LayerSink = store;
  await apply(0);
  // Concurrent applies of one layer share the work and both succeed.
  await Promise.all([apply(1), apply(1)]);
  await apply(2);
  assert.ok(await sink.hasLayer(id3));
  assert.deepEqual(await layerDirNames(), [id1, id2, id3].sort());
  const links = await store.layerLinks(id3);
  assert.equal(links.length, 3);
  assert.deepEqual(await store.layerLinks(id2), links.slice(1));
  assert.deepEqual((await store.chain(id3)).map((c) => c.layer.id), [id3, id2, id1]);
  assert.equal(await fs.readlink(path.join(store.home, links[0] ?? '')), `../${id3}/diff`);
  assert.deepEqual((await fs.readdir(path.join(store.home, id1))).sort(), ['diff', 'empty', 'link', 'merged', 'work'], 'a base layer as the overlay driver makes it');
  assert.deepEqual((await fs.readdir(path.join(store.home, id2))).sort(), ['diff', 'link', 'lower', 'merged', 'work']);
  const records = await layersJson();
  const r2 = records.find((r) => r.id === id2);
  assert.equal(r2?.parent, id1);
  assert.equal(r2?.['diff-digest'], layers[1]?.diff);
  assert.equal(r2?.['diff-size'], layers[1]?.tar.length, 'diff-size is the whole tar stream');
  assert.deepEqual(r2?.uidset, [0]);
  assert.equal(r2?.flags?.incomplete, undefined);
  for (const l of layers) {
    const split = await parseTarSplit(await fs.readFile(store.tarSplitPath(l.chain)));
    const rebuilt = await assembleTar(split, (name) => fs.readFile(path.join(store.home, l.chain, 'diff', name)));
    assert.equal(sha(rebuilt), l.diff, 'the tar rebuilt from tar-split and the files has the layer digest');
  }
  // Applying again is a no-op and does not read the stream.
  const again = Readable.from([layers[1]?.tar ?? Buffer.alloc(0)]);
  await apply(1, again);
  assert.ok(again.destroyed);
  const loc = await store.getLayer(id1);
  const inv = loc ? inventoryOf(loc.layer) : undefined;
  assert.ok(inv && inv.inodes === 11 && inv.fileBytes > 0, 'inventory recorded at unpack');
  const usage = await store.usage();
  assert.ok(usage.inodes >= 11 + 6 + 4, `usage from inventories: ${usage.inodes} inodes`);
});

test('a layer whose ID does not follow from parent and diff ID is refused', { skip }, async () => {
  const tar = Readable.from([layers[2]?.tar ?? Buffer.alloc(0)]);
  await assert.rejects(
    store.applyLayer({ layerId: 'c'.repeat(64), parentLayerId: id2, diffId: layers[2]?.diff ?? '', tar }, ctx),
    (e: unknown) => e instanceof InvalidArgumentError && /does not follow from parent/.test(e.message),
  );
  assert.ok(tar.destroyed);
});

test('a layer whose parent is missing is refused', { skip }, async () => {
  const tar = Readable.from([layers[1]?.tar ?? Buffer.alloc(0)]);
  const parentId = 'd'.repeat(64);
  await assert.rejects(store.applyLayer({ layerId: layerIdOf(parentId, layers[1]?.diff ?? ''), parentLayerId: parentId, diffId: layers[1]?.diff ?? '', tar }, ctx), FailedPreconditionError);
  assert.ok(tar.destroyed);
});

test('a layer stream that errors mid-way leaves nothing behind', { skip }, async () => {
  const big = await buildTar([{ header: { name: 'blob' }, body: 'x'.repeat(300_000) }]);
  const boom = new Error('digest mismatch');
  const src = new Readable({ read() {} });
  src.push(big.subarray(0, 100_000));
  setTimeout(() => src.destroy(boom), 20);
  await assert.rejects(store.applyLayer({ layerId: layerIdOf(id3, sha(big)), parentLayerId: id3, diffId: sha(big), tar: src }, ctx), (e: unknown) => e === boom);
  assert.deepEqual(await layerDirNames(), [id1, id2, id3].sort());
  assert.equal((await fs.readdir(path.join(store.home, 'l'))).length, 3);
  assert.deepEqual(await fs.readdir(store.staging), []);
  assert.deepEqual((await layersJson()).map((r) => r.id).sort(), [id1, id2, id3].sort());
});

test('whiteouts, opaque dirs and re-created dirs through a real overlay; the container is a c/storage container', { skip }, async () => {
  await recordImage(images, IMAGE_A, id3, ['example.test/a:1']);
  const { rootfs, layerId } = await containers.create('c1', testContainer('c1', IMAGE_A));
  assert.ok(await isMounted(rootfs));
  assert.equal(rootfs, path.join(store.home, layerId, 'merged'));
  assert.deepEqual((await fs.readdir(path.join(rootfs, 'etc'))).sort(), ['stays']);
  assert.deepEqual(await fs.readdir(path.join(rootfs, 'data')), ['new'], 'opaque: lower files and subdirs hidden');
  assert.equal(await fs.readFile(path.join(rootfs, 'data/new'), 'utf8'), 'fresh');
  assert.deepEqual(await fs.readdir(path.join(rootfs, 'var/cache')), ['again'], 'whited-out dir re-created empty, then filled');
  await fs.writeFile(path.join(rootfs, 'hello'), 'world');
  await fs.rm(path.join(rootfs, 'etc/stays'));
  assert.equal(await fs.readFile(path.join(store.home, layerId, 'diff', 'hello'), 'utf8'), 'world');
  assert.ok((await fs.lstat(path.join(store.home, layerId, 'diff', 'etc/stays'))).isCharacterDevice(), 'overlay wrote its own whiteout');
  assert.ok((await fs.lstat(path.join(store.home, id1, 'diff/etc/stays'))).isFile(), 'the image layer is untouched');
  assert.ok((await containers.usage('c1')).inodes >= 3);
  assert.ok((await containers.totalUsage()).inodes >= 3);
  const stored = JSON.parse(await fs.readFile(path.join(graphRoot, 'overlay-containers', 'containers.json'), 'utf8')) as { id: string; image: string; layer: string; names: string[]; metadata: string; flags: Record<string, unknown> }[];
  assert.deepEqual(stored.map((c) => [c.id, c.image, c.layer, c.names]), [['c1', IMAGE_A, layerId, ['k8s_c1_pod_ns_uid_0']]]);
  assert.equal(JSON.parse(stored[0]?.metadata ?? '{}')['pod-id'], 'p'.repeat(64));
  assert.equal(stored[0]?.flags.Volatile, true);
  const rw = (await layersJson()).find((r) => r.id === layerId);
  assert.equal(rw?.parent, id3);
  assert.deepEqual(rw?.names, ['k8s_c1_pod_ns_uid_0-layer']);
  const mounts = JSON.parse(await fs.readFile(path.join(tmp, 'run', 'overlay-layers', 'mountpoints.json'), 'utf8')) as unknown;
  assert.deepEqual(mounts, [{ id: layerId, path: rootfs, count: 1 }]);
  for (const d of ['graph', 'run']) assert.ok((await fs.stat(path.join(tmp, d, 'overlay-containers', 'c1', 'userdata'))).isDirectory());
});

test('image removal follows c/storage: refused while a container uses it; shared and container layers stay', { skip }, async () => {
  await recordImage(images, IMAGE_B, id1, ['example.test/b:1']);
  await assert.rejects(deleteImage({ layers: store, images, containers: containers.store, id: IMAGE_A, deferLayers: false }), /in use by container c1/);
  await containers.remove('c1');
  const home = await fs.realpath(store.home);
  assert.deepEqual((await listMountsUnder(home)).filter((m) => m !== home), [], 'only the home itself (private, as c/storage mounts it)');
  const gone = await deleteImage({ layers: store, images, containers: containers.store, id: IMAGE_A, deferLayers: false });
  assert.deepEqual(gone.removedLayers, [id3, id2], 'the base layer stays: image B tops it');
  assert.deepEqual(await layerDirNames(), [id1]);
  assert.equal((await fs.readdir(path.join(store.home, 'l'))).length, 1);
  await assert.rejects(fs.stat(path.join(tmp, 'graph', 'overlay-containers', 'c1')), { code: 'ENOENT' });
  assert.deepEqual(await gc.collect(), [], 'no candidate is unused: every layer crio-ts committed is gone or used');
  await apply(1);
  await apply(2);
});

test('collection takes only layers crio-ts committed that nothing uses; during a pull it waits', { skip }, async () => {
  // id2 and id3 were committed again by crio-ts and no image uses them.
  assert.deepEqual((await gc.pending()).sort(), [id2, id3].sort());
  // A layer podman would commit (not a candidate) on top of id3 keeps its chain.
  let release: () => void = () => undefined;
  const pull = gc.duringPull(() => new Promise<void>((r) => (release = r)));
  await new Promise((r) => setImmediate(r));
  await assert.rejects(store.removeLayer(id3), /kept while a pull runs/);
  assert.deepEqual(await gc.collect(), [], 'deferred');
  assert.equal((await layerDirNames()).length, 3);
  release();
  await pull;
  await gc.collect(); // queued behind the collection the pull's end started
  assert.deepEqual(await layerDirNames(), [id1], 'collected once the pull ended');
  assert.deepEqual(await gc.pending(), []);
  await apply(1);
  await apply(2);
  await recordImage(images, IMAGE_A, id3);
  assert.deepEqual(await gc.collect(), [], 'an image uses them now');
});

test('check finds damaged layers and what sits on them; removal keeps the rest', { skip }, async () => {
  assert.deepEqual(await store.check(), []);
  await fs.rm(path.join(store.home, id2, 'diff/data/new'));
  const damage = await store.check();
  assert.deepEqual(damage.map((d) => d.layerId).sort(), [id2, id3].sort());
  assert.match(damage.find((d) => d.layerId === id2)?.reason ?? '', /content changed/);
  assert.match(damage.find((d) => d.layerId === id3)?.reason ?? '', /parent layer .* is damaged/);
  assert.deepEqual(await store.removeWithDescendants([id2]), [id3, id2]);
  assert.deepEqual(await layerDirNames(), [id1]);
  assert.deepEqual(await store.check(), []);
});

test('init removes incomplete layers (as any c/storage writer does), unrecorded dirs, staging and dangling links', { skip }, async () => {
  const fake = 'f'.repeat(64);
  await fs.mkdir(path.join(store.home, fake, 'diff'), { recursive: true });
  const flagged = 'e'.repeat(64);
  await fs.mkdir(path.join(store.home, flagged, 'diff'), { recursive: true });
  await fs.writeFile(path.join(graphRoot, 'overlay-layers', 'layers.json'), JSON.stringify([...(await layersJson()), { id: flagged, flags: { incomplete: true } }]));
  await fs.mkdir(path.join(graphRoot, 'crio-staging', 'left-by-a-crash'), { recursive: true });
  await fs.symlink(`../${fake}/diff`, path.join(store.home, 'l', 'DANGLINGLINKAAAAAAAAAAAAAA'));
  await store.init();
  assert.deepEqual(await layerDirNames(), [id1]);
  assert.deepEqual((await layersJson()).map((r) => r.id), [id1]);
  assert.equal((await fs.readdir(path.join(store.home, 'l'))).length, 1);
  assert.deepEqual(await fs.readdir(store.staging), []);
});

test('layers are removed top-down only', { skip }, async () => {
  await apply(1);
  await assert.rejects(store.removeLayer(id1), FailedPreconditionError);
  await store.removeLayer(id2);
  await store.removeLayer(id1);
  await store.removeLayer(id1); // idempotent
  assert.deepEqual(await layerDirNames(), []);
  assert.deepEqual(await fs.readdir(path.join(store.home, 'l')), []);
});
