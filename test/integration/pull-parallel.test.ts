import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pack } from 'tar-stream';
import type { OpContext } from '../../lib/context';
import { FailedPreconditionError } from '../../lib/errors';
import { nullLogger } from '../../lib/log';
import { LayerStore } from '../../lib/storage/layer-store';
import { layerIdOf } from '../../lib/storage/store-records';
import { captureLogger, newImageService, registrySkipReason, type LogLine } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, sha256, type BuiltImage } from '../harness/test-images';

/*
 * Layers unpacked side by side and committed bottom-up: LayerStore.applyLayer with a parent
 * still being applied, and whole pulls into a real LayerStore from a real registry (every layer
 * streams at once), including a corrupted blob and a wrong diff_id in the middle of the image.
 * Everything lives in one temp dir removed in `after`; the registry is stopped by its PID.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (layer ownership, whiteout device nodes)' : registrySkipReason();
let tmp = '';
let n = 0;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const [name, body] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0) }, body);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const chainOf = (parent: string | undefined, diff: string): string => layerIdOf(parent, diff);

async function newStore(log = nullLogger()): Promise<LayerStore> {
  const store = new LayerStore({ graphRoot: path.join(tmp, `layers-${n++}`), log });
  await store.init();
  return store;
}

/** Directories an unpack left behind in the store root. */
async function leftovers(store: LayerStore): Promise<string[]> {
  return fs.readdir(store.staging);
}

/** A promise with its settle functions. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve = (): void => undefined;
  let reject = (_err: Error): void => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** A readable of `bytes` that reports when it has been read to its end. */
function trackedTar(bytes: Buffer): { tar: Readable; ended: Promise<void> } {
  const tar = Readable.from([bytes]);
  return { tar, ended: new Promise((resolve) => tar.once('end', () => resolve())) };
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-pull-parallel-'));
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('LayerStore: a layer applied beside its parent', { skip }, () => {
  const ctx: OpContext = { log: nullLogger(), signal: new AbortController().signal };
  let base: { tar: Buffer; diff: string; chain: string };
  let top: { tar: Buffer; diff: string; chain: string };

  before(async () => {
    const b = await tarOf({ 'etc/base': 'base\n' });
    const t = await tarOf({ 'etc/top': 'top\n' });
    base = { tar: b, diff: sha256(b), chain: layerIdOf(undefined, sha256(b)) };
    top = { tar: t, diff: sha256(t), chain: chainOf(layerIdOf(undefined, sha256(b)), sha256(t)) };
  });

  test('is unpacked first and committed only on top of the committed parent', async () => {
    const store = await newStore();
    const parent = deferred();
    const child = trackedTar(top.tar);
    const applying = store.applyLayer({ layerId: top.chain, parentLayerId: base.chain, diffId: top.diff, tar: child.tar, parentApplied: parent.promise }, ctx);
    await child.ended;
    assert.equal(await store.hasLayer(top.chain), false, 'not visible before its parent');
    assert.ok(!existsSync(path.join(store.home, top.chain)));
    await store.applyLayer({ layerId: base.chain, parentLayerId: undefined, diffId: base.diff, tar: Readable.from([base.tar]) }, ctx);
    parent.resolve();
    await applying;
    assert.ok(await store.hasLayer(top.chain));
    const links = await store.layerLinks(top.chain);
    assert.equal(links.length, 2);
    assert.deepEqual(links.slice(1), await store.layerLinks(base.chain));
    assert.equal(await fs.readFile(path.join(store.home, top.chain, 'lower'), 'utf8'), links[1]);
    assert.equal(await fs.readFile(path.join(store.home, top.chain, 'diff', 'etc', 'top'), 'utf8'), 'top\n');
    assert.deepEqual(await leftovers(store), []);
  });

  test('fails and leaves nothing when the parent is not applied', async () => {
    const store = await newStore();
    const parent = deferred();
    const child = trackedTar(top.tar);
    const applying = store.applyLayer({ layerId: top.chain, parentLayerId: base.chain, diffId: top.diff, tar: child.tar, parentApplied: parent.promise }, ctx);
    await child.ended;
    parent.reject(new Error('base layer download failed'));
    await assert.rejects(applying, (e: unknown) => e instanceof FailedPreconditionError && /was not applied/.test(e.message));
    assert.equal(await store.hasLayer(top.chain), false);
    assert.deepEqual(await leftovers(store), []);
    assert.deepEqual((await fs.readdir(store.home)).filter((d) => d !== 'l' && d !== 'crio-staging'), []);
  });

  test('a parent that settles without being there fails the layer too', async () => {
    const store = await newStore();
    const applying = store.applyLayer({ layerId: top.chain, parentLayerId: base.chain, diffId: top.diff, tar: Readable.from([top.tar]), parentApplied: Promise.resolve() }, ctx);
    await assert.rejects(applying, (e: unknown) => e instanceof FailedPreconditionError && /is not present/.test(e.message));
    assert.deepEqual(await leftovers(store), []);
  });

  test('without parentApplied the parent must already be there', async () => {
    const store = await newStore();
    await assert.rejects(
      store.applyLayer({ layerId: top.chain, parentLayerId: base.chain, diffId: top.diff, tar: Readable.from([top.tar]) }, ctx),
      (e: unknown) => e instanceof FailedPreconditionError && /is not present/.test(e.message),
    );
  });
});

describe('pull into the layer store, layers side by side', { skip }, () => {
  let registry: TestRegistry;
  let image: BuiltImage;
  const logs: LogLine[] = [];
  const log = captureLogger(logs);
  const ctx: OpContext = { log, signal: new AbortController().signal };
  const conf = (): string => `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`;
  const chains = (img: BuiltImage): string[] => {
    const out: string[] = [];
    for (const l of img.layers) out.push(chainOf(out[out.length - 1], l.diffId));
    return out;
  };
  /** A four-layer image: busybox plus three layers of files, one deleting a base file. */
  const fourLayers = (tag: string): Promise<BuiltImage> =>
    buildBusyboxImage({
      labels: { tag },
      extraLayers: [
        { files: [{ path: 'etc/one', content: `one ${tag}\n` }] },
        { files: [{ path: 'etc/two', content: 'x'.repeat(200_000) }], whiteouts: ['bin/vi'] },
        { files: [{ path: 'etc/three', content: 'three\n' }] },
      ],
    });

  before(async () => {
    registry = await startRegistry();
    image = await fourLayers('ok');
    await registry.push('parallel/ok', '1', image);
  });
  after(async () => {
    await registry?.stop();
  });

  test('every layer is committed bottom-up with its lower chain and content', async () => {
    const { svc, storage } = await newImageService(tmp, log, { registriesConf: conf(), direct: true });
    const store = storage.layers;
    const img = await svc.pull(`${registry.host}/parallel/ok:1`, undefined, ctx);
    const ids = chains(image);
    assert.deepEqual(img.layers.map((l) => l.layerId), ids);
    for (const [i, c] of ids.entries()) {
      assert.ok(await store.hasLayer(c), `layer ${i} present`);
      assert.equal((await store.layerLinks(c)).length, i + 1);
    }
    const diff = (i: number, p: string): string => path.join(store.home, ids[i] ?? '', 'diff', p);
    assert.equal(await fs.readFile(diff(1, 'etc/one'), 'utf8'), 'one ok\n');
    assert.equal((await fs.stat(diff(2, 'etc/two'))).size, 200_000);
    assert.ok((await fs.lstat(diff(2, 'bin/vi'))).isCharacterDevice(), 'whiteout converted');
    assert.equal(await fs.readFile(diff(3, 'etc/three'), 'utf8'), 'three\n');
    assert.deepEqual(await leftovers(store), []);
  });

  test('two pulls sharing layers apply each layer once', async () => {
    const other = await buildBusyboxImage({ labels: { tag: 'other' }, extraLayers: [{ files: [{ path: 'etc/other', content: 'other\n' }] }] });
    await registry.push('parallel/other', '1', other);
    const { svc, storage } = await newImageService(tmp, log, { registriesConf: conf(), direct: true });
    const store = storage.layers;
    const before = logs.length;
    await Promise.all([svc.pull(`${registry.host}/parallel/ok:1`, undefined, ctx), svc.pull(`${registry.host}/parallel/other:1`, undefined, ctx)]);
    const applied = logs.slice(before).filter((l) => l.message === 'layer applied' && typeof l.fields.durationMs === 'number').map((l) => String(l.fields.layerId));
    const want = new Set([...chains(image), ...chains(other)]);
    assert.equal(applied.length, want.size, 'each distinct layer unpacked once');
    assert.deepEqual(new Set(applied), want);
    assert.deepEqual(await leftovers(store), []);
  });

  test('a corrupted middle blob commits nothing from that layer up', async () => {
    const img = await fourLayers('corrupt');
    await registry.push('parallel/corrupt', '1', img);
    const bad = img.layers[1];
    assert.ok(bad);
    const file = registry.blobFile(bad.digest);
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    await fs.writeFile(file, bytes);
    const { svc, storage } = await newImageService(tmp, log, { registriesConf: conf(), direct: true });
    const store = storage.layers;
    await assert.rejects(svc.pull(`${registry.host}/parallel/corrupt:1`, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && e.message.includes(bad.digest));
    const ids = chains(img);
    for (const c of ids.slice(1)) assert.equal(await store.hasLayer(c), false);
    assert.deepEqual(await leftovers(store), []);
    assert.deepEqual(await svc.list(), []);
  });

  test('a wrong diff_id of the base layer commits no layer at all', async () => {
    const img = await fourLayers('baddiff');
    const config = { ...img.config, rootfs: { type: 'layers', diff_ids: [sha256('not the layer'), ...img.layers.slice(1).map((l) => l.diffId)] } };
    const configBytes = Buffer.from(JSON.stringify(config));
    const manifest = { ...img.manifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length } };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const bad: BuiltImage = { ...img, config, configBytes, configDigest: sha256(configBytes), manifest, manifestBytes, manifestDigest: sha256(manifestBytes) };
    await registry.push('parallel/baddiff', '1', bad);
    const { svc, storage } = await newImageService(tmp, log, { registriesConf: conf(), direct: true });
    const store = storage.layers;
    await assert.rejects(svc.pull(`${registry.host}/parallel/baddiff:1`, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /does not match the config's diff_id/.test(e.message));
    assert.deepEqual(await store.listLayers(), []);
    assert.deepEqual(await leftovers(store), []);
    assert.deepEqual(await svc.list(), []);
  });
});
