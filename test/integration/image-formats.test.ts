import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeadlineExceededError, FailedPreconditionError } from '../../lib/errors';
import { layerIdsOf } from '../../lib/storage/store-records';
import { haveProgram, hex, newImageService, registrySkipReason, testContext, type LogLine } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, buildIndex } from '../harness/test-images';

/*
 * Manifest kinds, layer compressions and pull mechanics against a real docker-registry: zstd
 * and uncompressed layers, a Docker manifest list, many layers in parallel, pull by image ID,
 * a corrupted blob (nothing stored, a retry succeeds once the blob is right) and
 * pull_progress_timeout through a proxy that stalls blob bodies.
 */

const skip = registrySkipReason();
const noZstd = haveProgram('zstd') ? false : 'zstd missing (apt-get install zstd)';

/** An HTTP proxy to `upstream` that, while `stall` is set, sends the head and 64 bytes of a blob and then nothing. */
async function startStallingProxy(upstream: string): Promise<{ host: string; stall: boolean; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { stall: false };
  const server = http.createServer((req, res) => {
    const up = http.request(`http://${upstream}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, host: upstream } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!(state.stall && /\/blobs\/sha256:/.test(req.url ?? ''))) {
        ur.pipe(res);
        return;
      }
      ur.once('data', (c: Buffer) => {
        res.write(c.subarray(0, 64));
        ur.destroy();
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const handle = {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get stall() {
      return state.stall;
    },
    set stall(v: boolean) {
      state.stall = v;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return handle;
}

describe('manifest kinds, compressions and pull mechanics', { skip }, () => {
  let tmp = '';
  let registry: TestRegistry;
  const logs: LogLine[] = [];
  const ctx = testContext(logs);
  const conf = (): string => `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-image-formats-'));
    registry = await startRegistry();
  });
  after(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  test('zstd and uncompressed layers unpack and pass the DiffID check', { skip: noZstd }, async () => {
    const extra = [{ files: [{ path: 'etc/zstd', content: 'z'.repeat(5000) }] }];
    const zstd = await buildBusyboxImage({ compression: 'zstd', extraLayers: extra, labels: { c: 'zstd' } });
    const plain = await buildBusyboxImage({ compression: 'none', extraLayers: extra, labels: { c: 'none' } });
    assert.equal(zstd.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    await registry.push('library/zstd', '1', zstd);
    await registry.push('library/plain', '1', plain);
    const { svc, sink } = await newImageService(tmp, ctx.log, { registriesConf: conf() });
    const z = await svc.pull(`${registry.host}/library/zstd:1`, undefined, ctx);
    assert.equal(z.id, hex(zstd.configDigest));
    const top = z.layers[1]?.layerId ?? '';
    assert.deepEqual(sink.layers.get(top)?.entries, ['etc/', 'etc/zstd']);
    assert.ok(sink.layers.get(z.layers[0]?.layerId ?? '')?.entries.includes('bin/busybox'));
    // Same tars, other compression: same DiffIDs, so the layers are already there.
    const p = await svc.pull(`${registry.host}/library/plain:1`, undefined, ctx);
    assert.equal(p.id, hex(plain.configDigest));
    assert.deepEqual(p.layers.map((l) => l.chainId), z.layers.map((l) => l.chainId));
    assert.equal(sink.applied.length, 2, 'layers shared by DiffID are not applied again');
    const fresh = await newImageService(tmp, ctx.log, { registriesConf: conf() });
    await fresh.svc.pull(`${registry.host}/library/plain:1`, undefined, ctx);
    assert.deepEqual(fresh.sink.layers.get(top)?.entries, ['etc/', 'etc/zstd']);
  });

  test('a Docker manifest list: the amd64 image is picked, the list digest resolves locally', async () => {
    const amd = await buildBusyboxImage({ format: 'docker', labels: { arch: 'amd64' } });
    const arm = await buildBusyboxImage({ format: 'docker', architecture: 'arm', variant: 'v7', labels: { arch: 'arm' } });
    const list = buildIndex([arm, amd], 'docker');
    await registry.pushIndex('library/list', '1', list);
    const { svc } = await newImageService(tmp, ctx.log, { registriesConf: conf() });
    const img = await svc.pull(`${registry.host}/library/list:1`, undefined, ctx);
    assert.equal(img.id, hex(amd.configDigest));
    assert.equal((await svc.status(`${registry.host}/library/list@${list.indexDigest}`))?.id, img.id);
    const byDigest = await svc.pull(`${registry.host}/library/list@${list.indexDigest}`, undefined, ctx);
    assert.equal(byDigest.id, img.id);
  });

  test('many layers download in parallel and apply bottom-up; pull by image ID needs no registry', async () => {
    const layers = Array.from({ length: 6 }, (_, i) => ({ files: [{ path: `data/${i}`, content: Buffer.alloc(200_000 + i, i) }] }));
    const img = await buildBusyboxImage({ extraLayers: layers, labels: { many: '1' } });
    await registry.push('library/many', '1', img);
    const { svc, sink } = await newImageService(tmp, ctx.log, { registriesConf: conf(), maxConcurrentDownloads: 3 });
    logs.length = 0;
    const pulled = await svc.pull(`${registry.host}/library/many:1`, undefined, ctx);
    assert.deepEqual(sink.applied, layerIdsOf(img.layers.map((l) => l.diffId)));
    const done = logs.find((l) => l.message === 'image pulled');
    assert.ok(done && typeof done.fields.bytes === 'number' && done.fields.bytes >= img.layers.reduce((n, l) => n + l.bytes.length, 0));
    assert.equal(typeof done.fields.bytesPerSecond, 'number');
    assert.equal(done.fields.appliedLayers, 7);
    await registry.stop();
    try {
      assert.equal((await svc.pull(pulled.id, undefined, ctx)).id, pulled.id);
      assert.equal((await svc.pull(`sha256:${pulled.id}`, undefined, ctx)).id, pulled.id);
    } finally {
      registry = await startRegistry();
    }
  });

  test('a corrupted blob fails the pull and stores nothing; the retry succeeds once the blob is right', async () => {
    const img = await buildBusyboxImage({ labels: { corrupt: 'single' } });
    await registry.push('library/corrupt', '1', img);
    const layer = img.layers[0];
    assert.ok(layer);
    const file = registry.blobFile(layer.digest);
    const good = await fs.readFile(file);
    const bad = Buffer.from(good);
    bad[bad.length - 100] = (bad[bad.length - 100] ?? 0) ^ 0xff;
    await fs.writeFile(file, bad);
    const { svc, sink, storage } = await newImageService(tmp, ctx.log, { registriesConf: conf() });
    const name = `${registry.host}/library/corrupt:1`;
    // The only layer streams straight into the sink: zlib or the digest check stops it.
    await assert.rejects(svc.pull(name, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && e.message.includes(layer.digest));
    assert.deepEqual(await svc.list(), []);
    assert.equal(sink.layers.size, 0);
    assert.deepEqual(await storage.layers.listLayers(), [], 'nothing of the layer is in the store');
    await fs.writeFile(file, good);
    assert.equal((await svc.pull(name, undefined, ctx)).id, hex(img.configDigest));
  });

  test('remove: refused while a container uses the image; then its own layers go top-down, shared ones stay; fs usage counts layers', async () => {
    const base = await buildBusyboxImage({ labels: { rm: 'base' } });
    const child = await buildBusyboxImage({ labels: { rm: 'child' }, extraLayers: [{ files: [{ path: 'a', content: 'a' }] }, { files: [{ path: 'b', content: 'b' }] }] });
    await registry.push('library/rm', 'base', base);
    await registry.push('library/rm', 'child', child);
    const { svc, storage } = await newImageService(tmp, ctx.log, { registriesConf: conf() });
    const b = await svc.pull(`${registry.host}/library/rm:base`, undefined, ctx);
    const c = await svc.pull(`${registry.host}/library/rm:child`, undefined, ctx);
    const [c0, c1, c2] = c.layers.map((l) => l.layerId);
    // A container of another tool (a record in containers.json) uses the child image.
    await storage.containers.file.write((cs) => ({ records: [...cs, { id: 'f'.repeat(64), image: c.id, layer: 'e'.repeat(64) }], result: undefined }));
    await assert.rejects(svc.remove(c.id, ctx), (e: unknown) => e instanceof FailedPreconditionError && e.message.includes(`in use by container ${'f'.repeat(64)}`));
    await storage.containers.file.write(() => ({ records: [], result: undefined }));
    const removed = await svc.remove(c.id, ctx);
    assert.deepEqual(removed?.removedLayerIds, [c2, c1], 'the base layer stays: the base image tops it');
    assert.deepEqual((await storage.layers.listLayers()).map((l) => l.layer.id), [c0]);
    assert.equal(b.layers[0]?.layerId, c0, 'both images share the base layer');
    const gone = await svc.remove(`${registry.host}/library/rm:base`, ctx);
    assert.equal(gone?.deleted, true);
    assert.deepEqual(gone?.removedLayerIds, [c0]);
    assert.equal(await svc.remove(b.id, ctx), undefined, 'removing a missing image succeeds');
    const usage = await svc.fsUsage();
    assert.ok(usage.bytes > 0 && usage.inodes > 0);
  });

  test('pull_progress_timeout cancels a pull that stops receiving data', async () => {
    const proxy = await startStallingProxy(registry.host);
    try {
      const img = await buildBusyboxImage({ labels: { stall: '1' } });
      await registry.push('library/stall', '1', img);
      const { svc } = await newImageService(tmp, ctx.log, { registriesConf: `[[registry]]\nlocation = "${proxy.host}"\ninsecure = true\n`, pullProgressTimeoutMs: 300 });
      const name = `${proxy.host}/library/stall:1`;
      proxy.stall = true;
      await assert.rejects(svc.pull(name, undefined, ctx), (e: unknown) => e instanceof DeadlineExceededError && /no progress for 300 ms \(pull_progress_timeout\)/.test(e.message));
      assert.deepEqual(await svc.list(), []);
      proxy.stall = false;
      assert.equal((await svc.pull(name, undefined, ctx)).id, hex(img.configDigest));
    } finally {
      await proxy.close();
    }
  });
});
