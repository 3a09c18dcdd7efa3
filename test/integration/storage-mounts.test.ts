import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { nullLogger } from '../../lib/log';
import { runProgram } from '../../lib/process';
import { ContainerLayers } from '../../lib/storage/container-layers';
import type { ImageRecords } from '../../lib/storage/image-records';
import type { LayerStore } from '../../lib/storage/layer-store';
import { applyOneFileImage, openTestStore, testContainer } from './storage-fixtures';
import { isMounted, listMountsUnder, mount, unmount } from '../../lib/storage/mount';

/*
 * Container rootfs mounts: reference counts in the shared mountpoints.json that survive a daemon
 * restart (a new ContainerLayers over the same directories), and the states a crash can leave between a mount
 * and its bookkeeping, each cleaned by init(). Everything lives under one temp dir.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts)' : false;
let tmp = '';
let store: LayerStore;
let images: ImageRecords;
let chain = '';
let runRoot = '';
const IMAGE = '1'.repeat(64);

/** A ContainerLayers as a freshly started daemon builds it. */
async function restart(): Promise<ContainerLayers> {
  const c = new ContainerLayers({ graphRoot: path.join(tmp, 'graph'), runRoot, layerStore: store, images, log: nullLogger() });
  await c.init();
  return c;
}

/** Mounts strictly below `dir` (the driver home is itself a private bind mount, as c/storage makes it). */
async function mountsBelow(dir: string): Promise<string[]> {
  const real = await fs.realpath(dir);
  return (await listMountsUnder(real)).filter((m) => m !== real).map((m) => path.relative(real, m)).sort();
}

/** The merged dir of a container, relative to the driver home. */
function merged(c: ContainerLayers, id: string): string {
  return path.relative(store.home, c.rootfs(id));
}

async function mountEntries(): Promise<{ id: string; count: number }[]> {
  return JSON.parse(await fs.readFile(path.join(runRoot, 'overlay-layers', 'mountpoints.json'), 'utf8').catch(() => '[]')) as { id: string; count: number }[];
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-mounts-it-'));
  runRoot = path.join(tmp, 'run');
  ({ layers: store, images } = await openTestStore(tmp));
  chain = await applyOneFileImage(store, images, IMAGE);
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

test('mounts are reference-counted and survive a restart', { skip }, async () => {
  let c = await restart();
  const { rootfs } = await c.create('a', testContainer('a', IMAGE));
  assert.equal(await c.mountCount('a'), 1);
  assert.equal(await c.mount('a'), rootfs);
  assert.equal(await c.mountCount('a'), 2);
  assert.deepEqual(await mountsBelow(store.home), [merged(c, 'a')], 'one real mount for two references');

  c = await restart();
  assert.equal(await c.mountCount('a'), 2, 'count survives the restart');
  assert.ok(await isMounted(rootfs), 'mount survives the restart');
  await c.restoreMount('a');
  assert.equal(await c.mountCount('a'), 2, 'restoring a live mount takes no reference');

  await c.unmount('a');
  assert.ok(await isMounted(rootfs), 'still one user');
  await c.unmount('a');
  assert.equal(await isMounted(rootfs), false);
  assert.equal(await c.mountCount('a'), 0);
  await c.unmount('a'); // idempotent
  await c.restoreMount('a');
  assert.equal(await c.mountCount('a'), 1);
  assert.equal(await fs.readFile(path.join(rootfs, 'hello'), 'utf8'), 'world');
  await c.mount('a');
  await c.unmount('a', { force: true });
  assert.equal(await isMounted(rootfs), false, 'force drops every reference');
  await c.remove('a');
});

test('init cleans what a crash between mount and bookkeeping left', { skip }, async () => {
  let c = await restart();
  await c.create('counted', testContainer('counted', IMAGE)); // healthy: mounted, count 1
  await c.create('uncounted', testContainer('uncounted', IMAGE));
  await c.create('unmounted', testContainer('unmounted', IMAGE));
  await c.create('halfmade', testContainer('halfmade', IMAGE));
  const halfLayer = c.get('halfmade')?.layerId ?? '';
  // Mounted, but the count never got written (or was lost).
  const uncountedLayer = c.get('uncounted')?.layerId;
  await fs.writeFile(path.join(runRoot, 'overlay-layers', 'mountpoints.json'), JSON.stringify((await mountEntries()).filter((e) => e.id !== uncountedLayer)));
  // Counted, but the mount is gone (crash during unmount, or an external umount).
  await unmount(c.rootfs('unmounted'), { detach: true });
  // A create that died before its layer was complete: the layer record still flagged incomplete.
  const layersFile = path.join(tmp, 'graph', 'overlay-layers', 'layers.json');
  const recs = JSON.parse(await fs.readFile(layersFile, 'utf8')) as { id: string; flags?: Record<string, unknown> }[];
  await fs.writeFile(layersFile, JSON.stringify(recs.map((r) => (r.id === halfLayer ? { ...r, flags: { incomplete: true } } : r))));
  await store.init(); // a writer's load deletes the incomplete layer (podman's would too)
  // Something else mounted below a layer that nobody accounts for.
  const stray = path.join(c.rootfs('counted'), '..', 'diff', 'stray');
  await fs.mkdir(stray);
  await mount({ source: 'tmpfs', fstype: 'tmpfs', target: stray, options: ['size=1m'] });

  c = await restart();
  assert.deepEqual(await mountsBelow(store.home), [merged(c, 'counted')]);
  assert.deepEqual(c.list(), ['counted', 'uncounted', 'unmounted'], 'the container whose layer is gone is dropped');
  assert.equal(await c.mountCount('uncounted'), 0);
  assert.equal(await c.mountCount('unmounted'), 0);
  await assert.rejects(fs.lstat(path.join(store.home, halfLayer)), { code: 'ENOENT' });
  // The daemon's restore remounts live containers.
  await c.restoreMount('unmounted');
  assert.ok(await isMounted(c.rootfs('unmounted')));
  for (const id of c.list()) await c.remove(id);
  assert.deepEqual(await mountsBelow(store.home), []);
  assert.deepEqual((await fs.readdir(store.home)).filter((n) => n !== 'l' && n !== 'crio-staging'), [chain]);
});

test('a reboot (mount table and runroot gone) resets every count', { skip }, async () => {
  let c = await restart();
  await c.create('r1', testContainer('r1', IMAGE));
  await c.mount('r1');
  await runProgram('umount', ['-l', c.rootfs('r1')]);
  await fs.rm(runRoot, { recursive: true, force: true });
  c = await restart();
  assert.equal(await c.mountCount('r1'), 0);
  assert.deepEqual(await mountsBelow(store.home), []);
  await c.remove('r1');
});
