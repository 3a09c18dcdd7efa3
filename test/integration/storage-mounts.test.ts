import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pack } from 'tar-stream';
import { backgroundContext } from '../../lib/context';
import { nullLogger } from '../../lib/log';
import { runProgram } from '../../lib/process';
import { ContainerLayers } from '../../lib/storage/container-layers';
import { LayerStore } from '../../lib/storage/layer-store';
import { isMounted, listMountsUnder, mount, unmount } from '../../lib/storage/mount';

/*
 * Container rootfs mounts: reference counts that survive a daemon restart (a new
 * ContainerLayers over the same directories), and the states a crash can leave between a mount
 * and its bookkeeping, each cleaned by init(). Everything lives under one temp dir.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts)' : false;
let tmp = '';
let store: LayerStore;
let chain = '';
let runDir = '';

/** A ContainerLayers as a freshly started daemon builds it. */
async function restart(): Promise<ContainerLayers> {
  const c = new ContainerLayers({ root: path.join(tmp, 'containers'), layerStore: store, log: nullLogger(), mountStateDir: runDir });
  await c.init();
  return c;
}

async function mountsBelow(dir: string): Promise<string[]> {
  return (await listMountsUnder(dir)).map((m) => path.relative(dir, m)).sort();
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-mounts-it-'));
  runDir = path.join(tmp, 'run', 'mountpoints');
  store = new LayerStore({ root: path.join(tmp, 'layers'), log: nullLogger() });
  await store.init();
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  p.entry({ name: 'hello', mode: 0o644 }, 'world');
  p.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  chain = 'sha256:' + createHash('sha256').update(tar).digest('hex');
  await store.applyLayer({ chainId: chain, parentChainId: undefined, diffId: chain, tar: Readable.from([tar]) }, backgroundContext(nullLogger()));
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

test('mounts are reference-counted and survive a restart', { skip }, async () => {
  let c = await restart();
  const { rootfs } = await c.create('a', chain);
  assert.equal(c.mountCount('a'), 1);
  assert.equal(await c.mount('a'), rootfs);
  assert.equal(c.mountCount('a'), 2);
  assert.deepEqual(await mountsBelow(c.root), ['a/merged'], 'one real mount for two references');

  c = await restart();
  assert.equal(c.mountCount('a'), 2, 'count survives the restart');
  assert.ok(await isMounted(rootfs), 'mount survives the restart');
  await c.restoreMount('a');
  assert.equal(c.mountCount('a'), 2, 'restoring a live mount takes no reference');

  await c.unmount('a');
  assert.ok(await isMounted(rootfs), 'still one user');
  await c.unmount('a');
  assert.equal(await isMounted(rootfs), false);
  assert.equal(c.mountCount('a'), 0);
  await c.unmount('a'); // idempotent
  await c.restoreMount('a');
  assert.equal(c.mountCount('a'), 1);
  assert.equal(await fs.readFile(path.join(rootfs, 'hello'), 'utf8'), 'world');
  await c.mount('a');
  await c.unmount('a', { force: true });
  assert.equal(await isMounted(rootfs), false, 'force drops every reference');
  await c.remove('a');
});

test('init cleans what a crash between mount and bookkeeping left', { skip }, async () => {
  let c = await restart();
  await c.create('counted', chain); // healthy: mounted, count 1
  await c.create('uncounted', chain);
  await c.create('unmounted', chain);
  await c.create('halfmade', chain);
  // Mounted, but the count never got written (or was lost).
  await fs.rm(path.join(runDir, 'uncounted'));
  // Counted, but the mount is gone (crash during unmount, or an external umount).
  await unmount(c.rootfs('unmounted'), { detach: true });
  // A create that died before its record: directory without container-layer.json, still mounted.
  await fs.rm(path.join(c.root, 'halfmade', 'container-layer.json'));
  // Something else mounted below the root that nobody accounts for.
  const stray = path.join(c.root, 'counted', 'diff', 'stray');
  await fs.mkdir(stray);
  await mount({ source: 'tmpfs', fstype: 'tmpfs', target: stray, options: ['size=1m'] });

  c = await restart();
  assert.deepEqual(await mountsBelow(c.root), ['counted/merged']);
  assert.deepEqual(c.list(), ['counted', 'uncounted', 'unmounted']);
  assert.equal(c.mountCount('uncounted'), 0);
  assert.equal(c.mountCount('unmounted'), 0);
  await assert.rejects(fs.lstat(path.join(c.root, 'halfmade')), { code: 'ENOENT' });
  // The daemon's restore remounts live containers.
  await c.restoreMount('unmounted');
  assert.ok(await isMounted(c.rootfs('unmounted')));
  for (const id of c.list()) await c.remove(id);
  assert.deepEqual(await mountsBelow(tmp), []);
  assert.deepEqual((await fs.readdir(c.root)).filter((n) => !n.startsWith('.')), []);
});

test('a reboot (mount table and runroot gone) resets every count', { skip }, async () => {
  let c = await restart();
  await c.create('r1', chain);
  await c.mount('r1');
  await runProgram('umount', ['-l', c.rootfs('r1')]);
  await fs.rm(path.join(tmp, 'run'), { recursive: true, force: true });
  c = await restart();
  assert.equal(c.mountCount('r1'), 0);
  assert.deepEqual(await mountsBelow(c.root), []);
  await c.remove('r1');
});
