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
import { nullLogger } from '../../lib/log';
import { ContainerLayers } from '../../lib/storage/container-layers';
import { LayerGc } from '../../lib/storage/layer-gc';
import { LayerStore } from '../../lib/storage/layer-store';
import { isMounted, listMountsUnder, unmount } from '../../lib/storage/mount';

/*
 * Layers, reference counting and a container layer on a real overlay mount. Everything lives in
 * one temp dir under os.tmpdir() (ext4 or tmpfs: both take overlay upper dirs and trusted.*
 * xattrs); `after` unmounts whatever is left below it, innermost first, and deletes it.
 */

/** The consumer-side interface image pulls use, duplicated to check LayerStore fits it. */
interface LayerSink {
  hasLayer(chainId: string): Promise<boolean>;
  applyLayer(params: { chainId: string; parentChainId: string | undefined; diffId: string; tar: Readable }, ctx: OpContext): Promise<void>;
  removeLayer?(chainId: string): Promise<void>;
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
const hex = (id: string): string => id.replace(/^sha256:/, '');
const chainOf = (parent: string | undefined, diff: string): string => (parent === undefined ? diff : sha(`${parent} ${diff}`));
const DIR = { type: 'directory', mode: 0o755 } as const;

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts, mknod, trusted xattrs)' : false;
const ctx = backgroundContext(nullLogger());
let tmp = '';
let store: LayerStore;
let containers: ContainerLayers;
/** Images the GC sees: one chain-ID list per image. */
const images = new Map<string, string[]>();
let gc: LayerGc;
let chain1 = '';
let chain2 = '';
let chain3 = '';
let layers: { tar: Buffer; diff: string; chain: string; parent: string | undefined }[] = [];

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-storage-it-'));
  store = new LayerStore({ root: path.join(tmp, 'overlay'), log: nullLogger() });
  containers = new ContainerLayers({ root: path.join(tmp, 'overlay-containers'), layerStore: store, log: nullLogger() });
  gc = new LayerGc({ layers: store, containers, imageLayers: () => images.values(), log: nullLogger() });
  await store.init();
  await containers.init();
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
    const chain = chainOf(parent, diff);
    const l = { tar, diff, chain, parent };
    parent = chain;
    return l;
  });
  [chain1, chain2, chain3] = layers.map((l) => l.chain) as [string, string, string];
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

async function layerDirNames(): Promise<string[]> {
  return (await fs.readdir(store.root)).filter((n) => n !== 'l').sort();
}

function apply(i: number, tar?: Readable): Promise<void> {
  const l = layers[i];
  if (!l) throw new Error(`no layer ${i}`);
  return store.applyLayer({ chainId: l.chain, parentChainId: l.parent, diffId: l.diff, tar: tar ?? Readable.from([l.tar]) }, ctx);
}

test('applies a three-layer image; shared layers are unpacked once', { skip }, async () => {
  const sink: LayerSink = store;
  await apply(0);
  // Concurrent applies of one layer share the work and both succeed.
  await Promise.all([apply(1), apply(1)]);
  await apply(2);
  assert.ok(await sink.hasLayer(chain3));
  assert.deepEqual(await layerDirNames(), [hex(chain1), hex(chain2), hex(chain3)].sort());
  const links = await store.layerLinks(chain3);
  assert.equal(links.length, 3);
  assert.deepEqual(await store.layerLinks(chain2), links.slice(1));
  assert.deepEqual(store.chainOf(chain3), [chain3, chain2, chain1]);
  assert.equal(await fs.readlink(path.join(store.root, links[0] ?? '')), `../${hex(chain3)}/diff`);
  assert.equal((await store.getLayer(chain2))?.parentChainId, chain1);
  // Applying again is a no-op and does not read the stream.
  const again = Readable.from([layers[1]?.tar ?? Buffer.alloc(0)]);
  await apply(1, again);
  assert.ok(again.destroyed);
  const inv = (await store.getLayer(chain1))?.inventory;
  assert.ok(inv && inv.inodes === 11 && inv.fileBytes > 0, 'inventory recorded at unpack');
  const usage = await store.usage();
  assert.ok(usage.inodes >= 11 + 6 + 4, `usage from inventories: ${usage.inodes} inodes`);
});

test('a layer whose chain ID does not follow from parent and diff ID is refused', { skip }, async () => {
  const tar = Readable.from([layers[2]?.tar ?? Buffer.alloc(0)]);
  await assert.rejects(
    store.applyLayer({ chainId: sha('made up'), parentChainId: chain2, diffId: layers[2]?.diff ?? '', tar }, ctx),
    (e: unknown) => e instanceof InvalidArgumentError && /does not match its parent/.test(e.message),
  );
  assert.ok(tar.destroyed);
});

test('a layer whose parent is missing is refused', { skip }, async () => {
  const tar = Readable.from([layers[1]?.tar ?? Buffer.alloc(0)]);
  await assert.rejects(store.applyLayer({ chainId: sha('orphan'), parentChainId: sha('no-such-parent'), diffId: layers[1]?.diff ?? '', tar }, ctx), FailedPreconditionError);
  assert.ok(tar.destroyed);
});

test('a layer stream that errors mid-way leaves nothing behind', { skip }, async () => {
  const big = await buildTar([{ header: { name: 'blob' }, body: 'x'.repeat(300_000) }]);
  const boom = new Error('digest mismatch');
  const src = new Readable({ read() {} });
  src.push(big.subarray(0, 100_000));
  setTimeout(() => src.destroy(boom), 20);
  await assert.rejects(store.applyLayer({ chainId: chainOf(chain3, sha(big)), parentChainId: chain3, diffId: sha(big), tar: src }, ctx), (e: unknown) => e === boom);
  assert.deepEqual(await layerDirNames(), [hex(chain1), hex(chain2), hex(chain3)].sort());
  assert.equal((await fs.readdir(path.join(store.root, 'l'))).length, 3);
});

test('whiteouts, opaque dirs and re-created dirs through a real overlay', { skip }, async () => {
  const { rootfs } = await containers.create('c1', chain3);
  assert.ok(await isMounted(rootfs));
  assert.deepEqual((await fs.readdir(path.join(rootfs, 'etc'))).sort(), ['stays']);
  assert.deepEqual(await fs.readdir(path.join(rootfs, 'data')), ['new'], 'opaque: lower files and subdirs hidden');
  assert.equal(await fs.readFile(path.join(rootfs, 'data/new'), 'utf8'), 'fresh');
  assert.deepEqual(await fs.readdir(path.join(rootfs, 'var/cache')), ['again'], 'whited-out dir re-created empty, then filled');
  await fs.writeFile(path.join(rootfs, 'hello'), 'world');
  await fs.rm(path.join(rootfs, 'etc/stays'));
  assert.equal(await fs.readFile(path.join(containers.root, 'c1', 'diff', 'hello'), 'utf8'), 'world');
  assert.ok((await fs.lstat(path.join(containers.root, 'c1', 'diff', 'etc/stays'))).isCharacterDevice(), 'overlay wrote its own whiteout');
  assert.ok((await fs.lstat(path.join(store.root, hex(chain1), 'diff/etc/stays'))).isFile(), 'the image layer is untouched');
  assert.ok((await containers.usage('c1')).inodes >= 3);
  assert.ok((await containers.totalUsage()).inodes >= 3);
});

test('reference counts: images and containers keep layers, GC removes only unused ones', { skip }, async () => {
  images.set('image-a', [chain1, chain2, chain3]);
  assert.deepEqual(Object.fromEntries(gc.refCounts()), { [chain1]: 2, [chain2]: 2, [chain3]: 2 }, 'image-a and container c1');
  images.clear();
  assert.deepEqual(await gc.collect(), [], 'c1 still sits on the whole chain');
  await containers.remove('c1');
  images.set('image-b', [chain1]);
  assert.deepEqual((await gc.collect()).sort(), [chain2, chain3].sort());
  assert.deepEqual(await layerDirNames(), [hex(chain1)]);
  assert.equal((await fs.readdir(path.join(store.root, 'l'))).length, 1);
  await apply(1);
  await apply(2);
});

test('during a pull, layer removal is refused and collection waits for the pull', { skip }, async () => {
  images.set('image-b', [chain1, chain2, chain3]);
  let release: () => void = () => undefined;
  const pull = gc.duringPull(() => new Promise<void>((r) => (release = r)));
  await new Promise((r) => setImmediate(r));
  await assert.rejects(store.removeLayer(chain3), /kept while a pull runs/);
  images.clear();
  assert.deepEqual(await gc.collect(), [], 'deferred');
  assert.equal((await layerDirNames()).length, 3);
  release();
  await pull;
  for (let i = 0; i < 50 && (await layerDirNames()).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await layerDirNames(), [], 'collected once the pull ended');
  await apply(0);
  await apply(1);
  await apply(2);
});

test('check finds damaged layers and what sits on them; removal keeps the rest', { skip }, async () => {
  assert.deepEqual(await store.check(), []);
  await fs.rm(path.join(store.root, hex(chain2), 'diff/data/new'));
  const damage = await store.check();
  assert.deepEqual(damage.map((d) => d.chainId).sort(), [chain2, chain3].sort());
  assert.match(damage.find((d) => d.chainId === chain2)?.reason ?? '', /content changed/);
  assert.match(damage.find((d) => d.chainId === chain3)?.reason ?? '', /parent layer .* is damaged/);
  await store.removeLayers([chain2]);
  assert.deepEqual(await layerDirNames(), [hex(chain1)]);
  assert.deepEqual(await store.check(), []);
});

test('init removes incomplete layers, bad records and dangling links', { skip }, async () => {
  const fake = 'f'.repeat(64);
  await fs.mkdir(path.join(store.root, fake, 'diff'), { recursive: true });
  const torn = 'e'.repeat(64);
  await fs.mkdir(path.join(store.root, torn, 'diff'), { recursive: true });
  await fs.writeFile(path.join(store.root, torn, 'layer.json'), '{"chainId":');
  await fs.mkdir(path.join(store.root, `${fake}.incomplete-abc`));
  await fs.symlink(`../${fake}/diff`, path.join(store.root, 'l', 'DANGLINGLINKAAAAAAAAAAAAAA'));
  await store.init();
  assert.deepEqual(await layerDirNames(), [hex(chain1)]);
  assert.equal((await fs.readdir(path.join(store.root, 'l'))).length, 1);
});

test('layers are removed top-down only', { skip }, async () => {
  await apply(1);
  await assert.rejects(store.removeLayer(chain1), FailedPreconditionError);
  await store.removeLayer(chain2);
  await store.removeLayer(chain1);
  await store.removeLayer(chain1); // idempotent
  assert.deepEqual(await layerDirNames(), []);
  assert.deepEqual(await fs.readdir(path.join(store.root, 'l')), []);
});
