import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { OpContext } from '../../lib/context';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError, UnimplementedError } from '../../lib/errors';
import { ImageService, type ImageStorage } from '../../lib/image/image-service';
import type { LayerStore } from '../../lib/storage/layer-store';
import { layerIdsOf } from '../../lib/storage/store-records';
import type { ApplyLayerParams } from '../../lib/image/layer-sink';
import type { Platform } from '../../lib/image/manifest';
import { captureLogger, hex, newStorage, TestSink, unusedPort, type LogLine } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, buildIndex, sha256, type BuiltImage } from '../harness/test-images';

/*
 * ImageService against a real registry (Debian's docker-registry on 127.0.0.1) with images
 * built from busybox-static. A tiny in-test layer sink unpacks each layer tar with tar-stream
 * and records what it saw. Everything lives in temp dirs removed in `after`; the registry
 * process is the only one started and is stopped by its PID.
 */

const skip = !existsSync('/usr/bin/docker-registry')
  ? 'docker-registry missing (apt-get install docker-registry)'
  : !existsSync('/bin/busybox')
    ? 'busybox missing (apt-get install busybox-static)'
    : false;
const haveHtpasswd = ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].some((p) => existsSync(p));

let registry: TestRegistry;
let tmp = '';
const logs: LogLine[] = [];
const log = captureLogger(logs);
const ctx: OpContext = { log, signal: new AbortController().signal };
let busybox: BuiltImage;
let twoLayer: BuiltImage;
let arm64: BuiltImage;
let n = 0;

async function newService(
  opts: { platform?: Platform; sink?: (store: LayerStore) => TestSink; registriesConf?: string; storage?: ImageStorage } = {},
): Promise<{ svc: ImageService; sink: TestSink; root: string; storage: ImageStorage }> {
  const root = path.join(tmp, `svc-${n++}`);
  await fs.mkdir(root);
  const confFile = path.join(root, 'registries.conf');
  await fs.writeFile(
    confFile,
    opts.registriesConf ??
      `[[registry]]\nprefix = "example.test/library"\nlocation = "${registry.host}/library"\ninsecure = true\n\n` +
        `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`,
  );
  const storage = opts.storage ?? (await newStorage(root, log));
  const sink = opts.sink?.(storage.layers) ?? new TestSink(storage.layers);
  const svc = new ImageService({ root: path.join(root, 'images'), registriesConfFile: confFile, storage, layerSink: sink, platform: opts.platform ?? { os: 'linux', architecture: 'amd64' }, log });
  await svc.init();
  return { svc, sink, root, storage };
}

/** The same image with a config whose first diff_id is wrong (blobs are intact). */
function withWrongDiffId(img: BuiltImage): BuiltImage {
  const config = { ...img.config, rootfs: { type: 'layers', diff_ids: [sha256('not the layer'), ...img.layers.slice(1).map((l) => l.diffId)] } };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = { ...img.manifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length } };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { ...img, config, configBytes, configDigest: sha256(configBytes), manifest, manifestBytes, manifestDigest: sha256(manifestBytes) };
}

describe('image pull from a real registry', { skip }, () => {
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-image-pull-'));
    registry = await startRegistry();
    busybox = await buildBusyboxImage();
    twoLayer = await buildBusyboxImage({
      cmd: ['cat', '/etc/motd'],
      user: 'nobody',
      workingDir: '/tmp',
      labels: { test: 'two-layer' },
      extraLayers: [{ files: [{ path: 'etc/motd', content: 'hello\n' }], whiteouts: ['bin/vi'] }],
    });
    arm64 = await buildBusyboxImage({ architecture: 'arm64', variant: 'v8' });
    await registry.push('library/busybox', 'latest', busybox);
    await registry.push('library/two', 'v1', twoLayer);
    await registry.pushIndex('library/multi', 'latest', buildIndex([busybox, arm64]));
  });
  after(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  test('pull by tag stores the image under its config digest and unpacks busybox', async () => {
    const { svc, sink } = await newService();
    const name = `${registry.host}/library/busybox:latest`;
    const img = await svc.pull(name, undefined, ctx);
    assert.equal(img.id, hex(busybox.configDigest));
    assert.deepEqual(img.repoTags, [name]);
    assert.deepEqual(img.repoDigests, [`${registry.host}/library/busybox@${busybox.manifestDigest}`]);
    assert.equal(img.manifestDigest, busybox.manifestDigest);
    assert.deepEqual(img.config.cmd, ['sh']);
    assert.equal(img.layers[0]?.chainId, busybox.layers[0]?.diffId);
    const entries = sink.layers.get(hex(busybox.layers[0]?.diffId ?? ''))?.entries ?? [];
    for (const e of ['bin/busybox', 'bin/sh', 'etc/passwd', 'tmp/']) assert.ok(entries.includes(e), `layer has ${e}`);
    assert.ok(logs.some((l) => l.message === 'image pulled' && l.fields.digest === busybox.manifestDigest && typeof l.fields.durationMs === 'number'));

    // Second pull: same image, no layer applied again.
    const again = await svc.pull(name, undefined, ctx);
    assert.equal(again.id, img.id);
    assert.equal(sink.applied.length, 1);

    // Through the registries.conf prefix rewrite: logical name kept, layers reused.
    const redirected = await svc.pull('example.test/library/busybox', undefined, ctx);
    assert.equal(redirected.id, img.id);
    assert.ok(redirected.repoTags.includes('example.test/library/busybox:latest'));
    assert.equal(sink.applied.length, 1);

    // By digest: found, no new tag.
    const byDigest = await svc.pull(`${registry.host}/library/busybox@${busybox.manifestDigest}`, undefined, ctx);
    assert.equal(byDigest.id, img.id);
    assert.deepEqual(byDigest.repoTags.sort(), [name, 'example.test/library/busybox:latest'].sort());
    assert.equal((await svc.status(`${registry.host}/library/busybox@${busybox.manifestDigest}`))?.id, img.id);
  });

  test('two-layer image: applied bottom-up with c/image layer IDs (OCI chain IDs shown), config extracted', async () => {
    const { svc, sink } = await newService();
    const img = await svc.pull(`${registry.host}/library/two:v1`, undefined, ctx);
    const [l0, l1] = twoLayer.layers;
    const chain1 = sha256(`${l0?.diffId} ${l1?.diffId}`);
    const ids = [hex(l0?.diffId ?? ''), createHash('sha256').update(`${hex(l0?.diffId ?? '')}+${hex(l1?.diffId ?? '')}`).digest('hex')];
    assert.deepEqual(img.layers.map((l) => l.chainId), [l0?.diffId, chain1]);
    assert.deepEqual(img.layers.map((l) => l.layerId), ids);
    assert.deepEqual(sink.applied, ids);
    assert.equal(sink.layers.get(ids[1] ?? '')?.parentLayerId, ids[0]);
    assert.deepEqual(sink.layers.get(ids[1] ?? '')?.entries, ['etc/', 'etc/motd', 'bin/', 'bin/.wh.vi']);
    assert.equal(img.config.user, 'nobody');
    assert.equal(img.config.workingDir, '/tmp');
    assert.deepEqual(img.config.labels, { test: 'two-layer' });
    // c/image's size: big data (config, the manifest twice) and each layer's uncompressed tar.
    const tars = twoLayer.layers.reduce((n, l) => n + gunzipSync(l.bytes).length, 0);
    assert.equal(img.size, 2 * twoLayer.manifestBytes.length + twoLayer.configBytes.length + tars);
  });

  test('index: the wanted platform is picked and both digests are recorded', async () => {
    const index = buildIndex([busybox, arm64]);
    const amd = await newService();
    const a = await amd.svc.pull(`${registry.host}/library/multi`, undefined, ctx);
    assert.equal(a.id, hex(busybox.configDigest));
    assert.deepEqual(a.repoDigests, [`${registry.host}/library/multi@${index.indexDigest}`, `${registry.host}/library/multi@${busybox.manifestDigest}`]);
    assert.equal((await amd.svc.status(`${registry.host}/library/multi@${index.indexDigest}`))?.id, a.id);
    const arm = await newService({ platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal((await arm.svc.pull(`${registry.host}/library/multi:latest`, undefined, ctx)).id, hex(arm64.configDigest));
    const s390 = await newService({ platform: { os: 'linux', architecture: 's390x' } });
    await assert.rejects(s390.svc.pull(`${registry.host}/library/multi:latest`, undefined, ctx), (e: unknown) => e instanceof NotFoundError && /linux\/s390x/.test(e.message));
  });

  test('mirrors first: a live mirror serves the pull, a dead one falls through to the primary', async () => {
    const dead = await unusedPort();
    const { svc } = await newService({
      registriesConf:
        `[[registry]]\nprefix = "mirrored.test/library"\nlocation = "127.0.0.1:${dead}/library"\ninsecure = true\n` +
        `[[registry.mirror]]\nlocation = "${registry.host}/library"\ninsecure = true\n\n` +
        `[[registry]]\nprefix = "fallback.test/library"\nlocation = "${registry.host}/library"\ninsecure = true\n` +
        `[[registry.mirror]]\nlocation = "127.0.0.1:${dead}/library"\ninsecure = true\n`,
    });
    assert.equal((await svc.pull('mirrored.test/library/busybox', undefined, ctx)).id, hex(busybox.configDigest));
    assert.ok(logs.some((l) => l.message === 'pulling image from mirror' && l.fields.registry === registry.host));
    const img = await svc.pull('fallback.test/library/two:v1', undefined, ctx);
    assert.equal(img.id, hex(twoLayer.configDigest));
    assert.deepEqual(img.repoTags, ['fallback.test/library/two:v1'], 'the image keeps its logical name');
  });

  test('concurrent identical pulls share one download', async () => {
    const img = await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'etc/concurrent', content: 'once' }] }] });
    await registry.push('library/concurrent', '1', img);
    const { svc, sink } = await newService();
    const name = `${registry.host}/library/concurrent:1`;
    const p1 = svc.pull(name, undefined, ctx);
    const p2 = svc.pull(name, undefined, ctx);
    assert.equal(p1, p2, 'the second caller gets the first pull');
    const [a, b] = await Promise.all([p1, p2]);
    assert.equal(a.id, b.id);
    assert.equal(sink.applied.length, 2, 'each layer applied once');
  });

  test('list, status and remove by tag and by ID', async () => {
    const { svc } = await newService();
    const bb = await svc.pull(`${registry.host}/library/busybox:latest`, undefined, ctx);
    await svc.pull('example.test/library/busybox:latest', undefined, ctx);
    const two = await svc.pull(`${registry.host}/library/two:v1`, undefined, ctx);
    assert.deepEqual((await svc.list()).map((i) => i.id).sort(), [bb.id, two.id].sort());
    assert.deepEqual((await svc.list(`${registry.host}/library/two:v1`)).map((i) => i.id), [two.id]);
    assert.deepEqual(await svc.list('nothing:here'), []);
    assert.equal((await svc.status(bb.id.slice(0, 12)))?.id, bb.id);
    assert.equal((await svc.status(`sha256:${two.id}`))?.id, two.id);
    assert.equal(await svc.status('docker.io/library/absent:1'), undefined);
    await assert.rejects(svc.resolve('absent:1'), (e: unknown) => e instanceof NotFoundError && e.message.includes('absent:1'));

    // By tag with another tag left: untag only.
    const untag = await svc.remove('example.test/library/busybox:latest', ctx);
    assert.equal(untag?.deleted, false);
    assert.deepEqual((await svc.status(bb.id))?.repoTags, [`${registry.host}/library/busybox:latest`]);
    // Last tag: the image goes; its only layer stays, the two-layer image sits on it.
    const gone = await svc.remove(`${registry.host}/library/busybox:latest`, ctx);
    assert.equal(gone?.deleted, true);
    assert.equal(await svc.status(bb.id), undefined);
    assert.deepEqual(gone?.removedLayerIds, [], 'the base layer is still used by the two-layer image');
    // By ID: both layers go, top first.
    const byId = await svc.remove(two.id, ctx);
    assert.equal(byId?.deleted, true);
    assert.deepEqual(byId?.removedLayerIds, [...two.layers].reverse().map((l) => l.layerId));
    assert.deepEqual(await svc.list(), []);
    assert.equal(await svc.remove(two.id, ctx), undefined, 'removing a missing image is not an error');
    const usage = await svc.fsUsage();
    assert.ok(usage.inodes > 0 && usage.bytes >= 0);
  });

  test('records and content survive a restart', async () => {
    const { svc, root, storage } = await newService();
    const img = await svc.pull(`${registry.host}/library/two:v1`, undefined, ctx);
    const again = new ImageService({ root: path.join(root, 'images'), registriesConfFile: path.join(root, 'registries.conf'), storage, log });
    await again.init();
    assert.deepEqual(await again.status(`${registry.host}/library/two:v1`), img);
  });

  test('errors: unreachable registry, unknown manifest, malformed reference, encrypted layer', async () => {
    const { svc } = await newService();
    const port = await unusedPort();
    await assert.rejects(svc.pull(`127.0.0.1:${port}/x:1`, undefined, ctx), (e: unknown) => e instanceof UnavailableError && e.message.includes(`127.0.0.1:${port}`));
    await assert.rejects(svc.pull(`${registry.host}/library/busybox:nope`, undefined, ctx), (e: unknown) => e instanceof NotFoundError && e.message.includes('library/busybox:nope'));
    await assert.rejects(svc.pull('Bad//Ref', undefined, ctx), (e: unknown) => e instanceof InvalidArgumentError && e.message.includes('Bad//Ref'));
    const encrypted = await buildBusyboxImage({ layerMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted', labels: { z: '1' } });
    await registry.push('library/encrypted', '1', encrypted);
    await assert.rejects(svc.pull(`${registry.host}/library/encrypted:1`, undefined, ctx), (e: unknown) => e instanceof UnimplementedError && e.message.includes('+encrypted'));
    assert.deepEqual(await svc.list(), []);
    // The media type says zstd, the bytes are gzip: magic bytes win, as in c/image.
    const mislabelled = await buildBusyboxImage({ layerMediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', labels: { z: '2' } });
    await registry.push('library/mislabelled', '1', mislabelled);
    assert.equal((await svc.pull(`${registry.host}/library/mislabelled:1`, undefined, ctx)).id, hex(mislabelled.configDigest));
  });

  test('a corrupted blob fails the pull and stores nothing', async () => {
    const img = await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'etc/corrupt', content: 'x'.repeat(1000) }] }] });
    await registry.push('library/corrupt', '1', img);
    const top = img.layers[1];
    assert.ok(top);
    const file = registry.blobFile(top.digest);
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff; // same length, different content
    await fs.writeFile(file, bytes);
    const { svc, sink, root, storage } = await newService();
    await assert.rejects(svc.pull(`${registry.host}/library/corrupt:1`, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && e.message.includes(`expected ${top.digest}`));
    assert.equal(await svc.status(`${registry.host}/library/corrupt:1`), undefined);
    assert.deepEqual(await svc.list(), []);
    // The base layer may or may not have been applied before the failure aborted the pull.
    const [baseId, topId] = layerIdsOf(img.layers.map((l) => l.diffId));
    assert.ok([...sink.layers.keys()].every((c) => c === baseId), 'only the base layer may have been applied');
    assert.ok(!sink.layers.has(topId ?? ''), 'the corrupted layer was never applied');
    assert.deepEqual(await fs.readdir(path.join(root, 'images', 'ingest')), []);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(storage.layers.graphRoot, 'overlay-images', 'images.json'), 'utf8').catch(() => '[]')), []);
  });

  test('a layer whose content does not match the config diff_id is never committed', async () => {
    const bad = withWrongDiffId(await buildBusyboxImage({ labels: { bad: 'diffid' } }));
    await registry.push('library/baddiff', '1', bad);
    const { svc, sink } = await newService();
    await assert.rejects(svc.pull(`${registry.host}/library/baddiff:1`, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /does not match the config's diff_id/.test(e.message));
    assert.equal(sink.layers.size, 0);
    assert.deepEqual(await svc.list(), []);
  });

  test('basic auth: refused without credentials, accepted with them, never logged', { skip: haveHtpasswd ? false : 'htpasswd missing (apt-get install apache2-utils)' }, async () => {
    const secured = await startRegistry({ htpasswd: { username: 'alice', password: 's3cret-pw' } });
    try {
      await secured.push('library/busybox', 'latest', busybox);
      const { svc } = await newService({ registriesConf: `[[registry]]\nlocation = "${secured.host}"\ninsecure = true\n` });
      const name = `${secured.host}/library/busybox:latest`;
      await assert.rejects(svc.pull(name, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /unauthorized/.test(e.message));
      await assert.rejects(svc.pull(name, { username: 'alice', password: 'wrong' }, ctx), (e: unknown) => e instanceof FailedPreconditionError && /unauthorized/.test(e.message));
      assert.equal((await svc.pull(name, { username: 'alice', password: 's3cret-pw' }, ctx)).id, hex(busybox.configDigest));
      const auth = Buffer.from('alice:s3cret-pw').toString('base64');
      assert.equal((await svc.pull(name, { auth }, ctx)).id, hex(busybox.configDigest));
      assert.ok(!JSON.stringify(logs).includes('s3cret-pw'), 'password never logged');
      assert.ok(!JSON.stringify(logs).includes(auth), 'auth never logged');
    } finally {
      await secured.stop();
    }
  });

  test('a sink that skips reading is tolerated only when the layer is really there', async () => {
    /** Claims every layer is missing, then either "finds" it (destroying the stream) or ignores the stream. */
    class LazySink extends TestSink {
      private readonly seen = new Set<string>();
      constructor(
        store: LayerStore,
        private readonly mode: 'appeared' | 'ignores',
      ) {
        super(store);
      }
      override async hasLayer(layerId: string): Promise<boolean> {
        return this.seen.has(layerId) && (await super.hasLayer(layerId));
      }
      override async applyLayer(p: ApplyLayerParams): Promise<void> {
        this.applied.push(p.layerId);
        if (this.mode === 'appeared') {
          p.tar.destroy();
          this.seen.add(p.layerId);
        }
      }
    }
    // The layers are in the store already (another pull), but the sink first says they are not.
    const pre = await newService();
    await pre.svc.pull(`${registry.host}/library/two:v1`, undefined, ctx);
    const appeared = await newService({ storage: pre.storage, sink: (store) => new LazySink(store, 'appeared') });
    assert.equal((await appeared.svc.pull(`${registry.host}/library/two:v1`, undefined, ctx)).id, hex(twoLayer.configDigest));
    // A sink that does not read: the puller drains the stream itself, so the DiffID is still checked.
    const ignores = await newService({ storage: pre.storage, sink: (store) => new LazySink(store, 'ignores') });
    assert.equal((await ignores.svc.pull(`${registry.host}/library/two:v1`, undefined, ctx)).layers.length, 2);
    const bad = withWrongDiffId(await buildBusyboxImage({ labels: { lazy: 'bad' } }));
    await registry.push('library/lazybad', '1', bad);
    await assert.rejects(ignores.svc.pull(`${registry.host}/library/lazybad:1`, undefined, ctx), /does not match the config's diff_id/);
  });

  test('docker schema 2 images pull too', async () => {
    const img = await buildBusyboxImage({ format: 'docker', labels: { format: 'docker' } });
    await registry.push('library/dockerfmt', '1', img);
    const { svc } = await newService();
    assert.equal((await svc.pull(`${registry.host}/library/dockerfmt:1`, undefined, ctx)).id, hex(img.configDigest));
  });
});
