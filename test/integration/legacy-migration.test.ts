import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { nullLogger } from '../../lib/log';
import { runProgram } from '../../lib/process';
import { ImageRecords } from '../../lib/storage/image-records';
import { LayerStore } from '../../lib/storage/layer-store';
import { migrateLegacyStore } from '../../lib/storage/legacy-migration';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';
import { layerIds } from './storage-fixtures';

/*
 * A store of crio-ts's earlier layout (crio-images/ records and content blobs, crio-layers/
 * <chain ID>/diff) written as that version wrote it, then moved into containers/storage's at
 * start: the image keeps its ID, names and digests, its layers move (not copied) under c/storage
 * IDs, nothing of the old layout is left; an image the move cannot complete stays where it was.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (layer owners)' : false;
let tmp = '';
let img: BuiltImage;
let broken: BuiltImage;

const hex = (d: string): string => d.replace(/^sha256:/, '');

/** Writes `image` as the earlier store did; `withLayers: false` leaves its layers out. */
async function writeLegacy(root: string, image: BuiltImage, tag: string, withLayers = true): Promise<void> {
  const blobs = path.join(root, 'crio-images', 'content', 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  await fs.mkdir(path.join(root, 'crio-images', 'images'), { recursive: true });
  await fs.writeFile(path.join(blobs, hex(image.configDigest)), image.configBytes);
  await fs.writeFile(path.join(blobs, hex(image.manifestDigest)), image.manifestBytes);
  const chain: string[] = [];
  for (const l of image.layers) {
    const parent = chain[chain.length - 1];
    const id = parent === undefined ? l.diffId : 'sha256:' + createHash('sha256').update(`${parent} ${l.diffId}`).digest('hex');
    chain.push(id);
    if (!withLayers) continue;
    const dir = path.join(root, 'crio-layers', hex(id));
    await fs.mkdir(path.join(dir, 'diff'), { recursive: true });
    const r = await runProgram('tar', ['-x', '-f', '-', '-C', path.join(dir, 'diff'), '--numeric-owner'], { input: gunzipSync(l.bytes) });
    assert.equal(r.exitCode, 0, r.stderr.toString());
    await fs.writeFile(path.join(dir, 'layer.json'), JSON.stringify({ chainId: id, ...(parent ? { parentChainId: parent } : {}), diffId: l.diffId, size: 1234, createdAt: new Date(0).toISOString() }));
  }
  const repo = tag.slice(0, tag.lastIndexOf(':'));
  const record = {
    version: 1,
    id: hex(image.configDigest),
    repoTags: [tag],
    repoDigests: [`${repo}@${image.manifestDigest}`],
    size: 1,
    manifestDigest: image.manifestDigest,
    configDigest: image.configDigest,
    layers: image.layers.map((l, i) => ({ diffId: l.diffId, chainId: chain[i], digest: l.digest, size: l.bytes.length, mediaType: l.mediaType })),
    config: {},
    pulledAt: 1_700_000_000_000,
  };
  await fs.writeFile(path.join(root, 'crio-images', 'images', `${record.id}.json`), JSON.stringify(record));
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-legacy-'));
  img = await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'etc/motd', content: 'old store\n' }] }] });
  broken = await buildBusyboxImage({ labels: { broken: 'yes' } });
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('an image of the earlier layout moves in with its ID, names and digests; its layers move under c/storage IDs', { skip }, async () => {
  const root = path.join(tmp, 'ok');
  await writeLegacy(root, img, 'example.test/old/busybox:1');
  const layers = new LayerStore({ graphRoot: root, log: nullLogger() });
  await layers.init();
  const images = new ImageRecords(root, nullLogger());
  await images.init();
  const legacy = { layers: path.join(root, 'crio-layers'), images: path.join(root, 'crio-images'), containerLayers: path.join(root, 'crio-containers'), mountCounts: '' };
  assert.equal(await migrateLegacyStore({ legacy, layers, images, log: nullLogger() }), 1);
  const stored = await images.get(hex(img.configDigest));
  assert.deepEqual(stored?.image.names, ['example.test/old/busybox:1']);
  assert.equal(stored?.image.digest, img.manifestDigest);
  assert.equal(stored?.image.layer, layerIds(img).at(-1));
  assert.deepEqual((await layers.listLayers()).map((l) => l.layer.id).sort(), [...layerIds(img)].sort());
  assert.equal(await fs.readFile(path.join(layers.home, layerIds(img).at(-1) ?? '', 'diff', 'etc', 'motd'), 'utf8'), 'old store\n');
  await assert.rejects(fs.stat(path.join(root, 'crio-images')), { code: 'ENOENT' });
  await assert.rejects(fs.stat(path.join(root, 'crio-layers')), { code: 'ENOENT' });
  assert.equal(await migrateLegacyStore({ legacy, layers, images, log: nullLogger() }), 0, 'nothing left to move: a second start does nothing');
});

test('an image missing a layer stays in the earlier layout, nothing of it deleted', { skip }, async () => {
  const root = path.join(tmp, 'broken');
  await writeLegacy(root, broken, 'example.test/old/broken:1', false);
  const layers = new LayerStore({ graphRoot: root, log: nullLogger() });
  await layers.init();
  const images = new ImageRecords(root, nullLogger());
  await images.init();
  const legacy = { layers: path.join(root, 'crio-layers'), images: path.join(root, 'crio-images'), containerLayers: '', mountCounts: '' };
  assert.equal(await migrateLegacyStore({ legacy, layers, images, log: nullLogger() }), 0);
  assert.deepEqual(await images.list(), []);
  assert.deepEqual(await fs.readdir(path.join(root, 'crio-images', 'images')), [`${hex(broken.configDigest)}.json`]);
});
