import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pack, type Header } from 'tar-stream';
import { backgroundContext, type OpContext } from '../../lib/context';
import { FailedPreconditionError } from '../../lib/errors';
import { nullLogger } from '../../lib/log';
import { ContainerLayers } from '../../lib/storage/container-layers';
import { LayerStore } from '../../lib/storage/layer-store';
import { isMounted, listMountsUnder, unmount } from '../../lib/storage/mount';

/*
 * Layers and a container layer on a real overlay mount. Everything lives in one temp dir under
 * os.tmpdir() (tried on ext4 /tmp and on tmpfs: both take overlay upper dirs and trusted.*
 * xattrs); `after` unmounts whatever is left below it, innermost first, and deletes it.
 */

/** The consumer-side interface image pulls use, duplicated to check LayerStore fits it. */
interface LayerSink {
  hasLayer(chainId: string): Promise<boolean>;
  applyLayer(params: { chainId: string; parentChainId: string | undefined; diffId: string; tar: Readable }, ctx: OpContext): Promise<void>;
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
const DIR = { type: 'directory', mode: 0o755 } as const;

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts, mknod, trusted xattrs)' : false;
const ctx = backgroundContext(nullLogger());
let tmp = '';
let store: LayerStore;
let containers: ContainerLayers;
let layer1: Buffer;
let layer2: Buffer;
let chain1 = '';
let chain2 = '';
let diff1 = '';
let diff2 = '';

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-storage-it-'));
  store = new LayerStore({ root: path.join(tmp, 'overlay'), log: nullLogger() });
  containers = new ContainerLayers({ root: path.join(tmp, 'overlay-containers'), layerStore: store, log: nullLogger() });
  await store.init();
  await containers.init();
  layer1 = await buildTar([
    { header: { name: 'etc', ...DIR } },
    { header: { name: 'etc/gone' }, body: 'to be deleted' },
    { header: { name: 'etc/stays' }, body: 'still here' },
    { header: { name: 'data', ...DIR } },
    { header: { name: 'data/old1' }, body: '1' },
    { header: { name: 'data/old2' }, body: '2' },
  ]);
  layer2 = await buildTar([
    { header: { name: 'etc', ...DIR } },
    { header: { name: 'etc/.wh.gone' } },
    { header: { name: 'data', ...DIR } },
    { header: { name: 'data/.wh..wh..opq' } },
    { header: { name: 'data/new' }, body: 'fresh' },
  ]);
  diff1 = sha(layer1);
  diff2 = sha(layer2);
  chain1 = diff1;
  chain2 = sha(`${chain1} ${diff2}`);
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

async function layerDirNames(): Promise<string[]> {
  return (await fs.readdir(store.root)).filter((n) => n !== 'l').sort();
}

test('applies a two-layer image', { skip }, async () => {
  const sink: LayerSink = store;
  await sink.applyLayer({ chainId: chain1, parentChainId: undefined, diffId: diff1, tar: Readable.from([layer1]) }, ctx);
  // Concurrent applies of one layer share the work and both succeed.
  await Promise.all([
    sink.applyLayer({ chainId: chain2, parentChainId: chain1, diffId: diff2, tar: Readable.from([layer2]) }, ctx),
    sink.applyLayer({ chainId: chain2, parentChainId: chain1, diffId: diff2, tar: Readable.from([layer2]) }, ctx),
  ]);
  assert.ok(await sink.hasLayer(chain2));
  assert.deepEqual(await layerDirNames(), [hex(chain1), hex(chain2)].sort());
  const links = await store.layerLinks(chain2);
  assert.equal(links.length, 2);
  assert.deepEqual(await store.layerLinks(chain1), [links[1]]);
  assert.deepEqual(await store.lowerDirs(chain2), [path.join(store.root, hex(chain2), 'diff'), path.join(store.root, hex(chain1), 'diff')]);
  assert.equal(await fs.readlink(path.join(store.root, links[0] ?? '')), `../${hex(chain2)}/diff`);
  assert.equal((await store.getLayer(chain2))?.parentChainId, chain1);
  // Applying again is a no-op and does not read the stream.
  const again = Readable.from([layer2]);
  await store.applyLayer({ chainId: chain2, parentChainId: chain1, diffId: diff2, tar: again }, ctx);
  assert.ok(again.destroyed);
});

test('a layer whose parent is missing is refused', { skip }, async () => {
  const tar = Readable.from([layer2]);
  await assert.rejects(
    store.applyLayer({ chainId: sha('orphan'), parentChainId: sha('no-such-parent'), diffId: diff2, tar }, ctx),
    FailedPreconditionError,
  );
  assert.ok(tar.destroyed);
});

test('a layer stream that errors mid-way leaves nothing behind', { skip }, async () => {
  const big = await buildTar([{ header: { name: 'blob' }, body: 'x'.repeat(300_000) }]);
  const boom = new Error('digest mismatch');
  const src = new Readable({ read() {} });
  src.push(big.subarray(0, 100_000));
  setTimeout(() => src.destroy(boom), 20);
  await assert.rejects(store.applyLayer({ chainId: sha('broken'), parentChainId: chain2, diffId: sha(big), tar: src }, ctx), (e: unknown) => e === boom);
  assert.deepEqual(await layerDirNames(), [hex(chain1), hex(chain2)].sort());
  assert.equal((await fs.readdir(path.join(store.root, 'l'))).length, 2);
});

test('when one of two concurrent applies fails, the other applies from its own stream', { skip }, async () => {
  const layer3 = await buildTar([{ header: { name: 'blob' }, body: 'y'.repeat(300_000) }]);
  const chain3 = sha(`${chain2} ${sha(layer3)}`);
  const bad = new Readable({ read() {} });
  bad.push(layer3.subarray(0, 100_000));
  setTimeout(() => bad.destroy(new Error('digest mismatch')), 20);
  const params = { chainId: chain3, parentChainId: chain2, diffId: sha(layer3) };
  const [first, second] = await Promise.allSettled([
    store.applyLayer({ ...params, tar: bad }, ctx),
    store.applyLayer({ ...params, tar: Readable.from([layer3]) }, ctx),
  ]);
  assert.equal(first.status, 'rejected');
  assert.equal(second.status, 'fulfilled');
  assert.equal((await fs.stat(path.join(store.root, hex(chain3), 'diff', 'blob'))).size, 300_000);
  assert.equal((await store.layerLinks(chain3)).length, 3);
  await store.removeLayer(chain3);
  assert.deepEqual(await layerDirNames(), [hex(chain1), hex(chain2)].sort());
});

test('container layer shows whiteouts and opaque dirs through a real overlay', { skip }, async () => {
  const { rootfs } = await containers.create('c1', chain2);
  assert.ok(await isMounted(rootfs));
  assert.deepEqual((await fs.readdir(path.join(rootfs, 'etc'))).sort(), ['stays']);
  assert.deepEqual(await fs.readdir(path.join(rootfs, 'data')), ['new']);
  assert.equal(await fs.readFile(path.join(rootfs, 'data/new'), 'utf8'), 'fresh');
  await fs.writeFile(path.join(rootfs, 'hello'), 'world');
  assert.equal(await fs.readFile(path.join(containers.root, 'c1', 'diff', 'hello'), 'utf8'), 'world');
  assert.ok((await containers.usage('c1')).inodes >= 2);
  assert.deepEqual(containers.list(), ['c1']);
  assert.equal(await containers.mount('c1'), rootfs); // already mounted: no second mount
  assert.equal((await listMountsUnder(path.join(containers.root, 'c1'))).length, 1);
});

test('a restarted daemon keeps recorded container mounts and drops unrecorded dirs', { skip }, async () => {
  await fs.mkdir(path.join(containers.root, 'half-made', 'diff'), { recursive: true });
  const again = new ContainerLayers({ root: containers.root, layerStore: store, log: nullLogger() });
  await again.init();
  assert.deepEqual(again.list(), ['c1']);
  assert.ok(await isMounted(again.rootfs('c1')));
  await assert.rejects(fs.lstat(path.join(containers.root, 'half-made')), { code: 'ENOENT' });
});

test('unmount, remount and remove leave no mount and no directory', { skip }, async () => {
  const rootfs = containers.rootfs('c1');
  await containers.unmount('c1');
  assert.equal(await isMounted(rootfs), false);
  await containers.unmount('c1'); // idempotent
  await containers.mount('c1');
  assert.equal(await fs.readFile(path.join(rootfs, 'hello'), 'utf8'), 'world');
  await containers.remove('c1');
  await containers.remove('c1'); // idempotent
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mountinfo.includes(tmp), 'no mount below the test dir');
  await assert.rejects(fs.lstat(path.join(containers.root, 'c1')), { code: 'ENOENT' });
  assert.deepEqual(containers.list(), []);
});

test('init removes incomplete layers and dangling links', { skip }, async () => {
  const fake = 'f'.repeat(64);
  await fs.mkdir(path.join(store.root, fake, 'diff'), { recursive: true });
  await fs.mkdir(path.join(store.root, `${fake}.incomplete-abc`));
  await fs.symlink(`../${fake}/diff`, path.join(store.root, 'l', 'DANGLINGLINKAAAAAAAAAAAAAA'));
  await store.init();
  assert.deepEqual(await layerDirNames(), [hex(chain1), hex(chain2)].sort());
  assert.equal((await fs.readdir(path.join(store.root, 'l'))).length, 2);
});

test('layers are removed top-down only', { skip }, async () => {
  await assert.rejects(store.removeLayer(chain1), FailedPreconditionError);
  assert.ok((await store.usage()).inodes > 0);
  await store.removeLayer(chain2);
  await store.removeLayer(chain1);
  await store.removeLayer(chain1); // idempotent
  assert.deepEqual(await layerDirNames(), []);
  assert.deepEqual(await fs.readdir(path.join(store.root, 'l')), []);
});
