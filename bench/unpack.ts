import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { backgroundContext } from '../lib/context';
import { decompressorFor } from '../lib/storage/decompress';
import { nullLogger } from '../lib/log';
import { runProgram } from '../lib/process';
import { ContainerLayers } from '../lib/storage/container-layers';
import { ImageRecords } from '../lib/storage/image-records';
import { LayerStore } from '../lib/storage/layer-store';
import { layerIdOf } from '../lib/storage/store-records';
import { listMountsUnder, unmount } from '../lib/storage/mount';
import { syncFilesystem } from '../lib/storage/sync-fs';
import { row, timeMs } from './stats';

/**
 * Layer unpack throughput (MB/s of uncompressed tar) for a four-layer image: a base of mixed
 * files, big incompressible files, 20 000 small files, and a layer of whiteouts, hardlinks and
 * xattrs. Each layer goes gunzip → LayerStore.applyLayer as in a pull, one after the other
 * (per-layer figures) and all four side by side with bottom-up commits (as a pull does); GNU tar
 * extracting the same tars to the same disk one after the other is printed as the floor, and the
 * median of the per-iteration ratios to it. Then the cost of usage polling with 100 container
 * layers (what ImageFsInfo and ListContainerStats do every ~10 s).
 * Usage: node build/bench/unpack.js [iterations=3] [dir=os.tmpdir()]
 */

const N = Number(process.argv[2] ?? 3);
const BASE = process.argv[3] ?? os.tmpdir();
const ctx = backgroundContext(nullLogger());
const MB = 1e6;

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: Buffer;
  linkname?: string;
  pax?: Record<string, string>;
}

async function tarOf(entries: Iterable<Entry>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      p.entry({ name: e.name, type: e.type ?? 'file', mode: e.type === 'directory' ? 0o755 : 0o644, linkname: e.linkname, pax: e.pax, mtime: new Date(0) }, e.body ?? Buffer.alloc(0), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Compressible text-like content of `n` bytes. */
function textish(n: number, seed: number): Buffer {
  const line = Buffer.from(`line ${seed} lorem ipsum dolor sit amet ${'x'.repeat(seed % 40)}\n`);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += line.length) line.copy(b, i);
  return b;
}

function* baseLayer(): Generator<Entry> {
  for (let d = 0; d < 100; d++) yield { name: `usr/lib/pkg${d}/`, type: 'directory' };
  for (let i = 0; i < 3000; i++) {
    const size = Math.floor(100 * Math.pow(2600, (i % 97) / 96)); // 100 B .. 256 KiB
    yield { name: `usr/lib/pkg${i % 100}/file${i}`, body: i % 3 === 0 ? randomBytes(size) : textish(size, i) };
  }
  for (let i = 0; i < 300; i++) yield { name: `usr/bin/tool${i}`, type: 'symlink', linkname: `../lib/pkg${i % 100}/file${i}` };
}

function* bigLayer(): Generator<Entry> {
  const chunk = randomBytes(1 << 20);
  for (let f = 0; f < 4; f++) {
    const body = Buffer.alloc(64 << 20);
    for (let off = 0; off < body.length; off += chunk.length) chunk.copy(body, off, (off / chunk.length + f) % 1024);
    yield { name: `opt/data/blob${f}`, body };
  }
}

function* smallFilesLayer(): Generator<Entry> {
  for (let d = 0; d < 200; d++) yield { name: `srv/app/node_modules/m${d}/`, type: 'directory' };
  for (let i = 0; i < 20_000; i++) yield { name: `srv/app/node_modules/m${i % 200}/f${i}.js`, body: textish(1024, i) };
}

function* metadataLayer(): Generator<Entry> {
  for (let i = 0; i < 500; i++) yield { name: `usr/lib/pkg${i % 100}/.wh.file${i}` };
  for (let d = 0; d < 20; d++) yield { name: `srv/app/node_modules/m${d}/.wh..wh..opq` };
  for (let i = 0; i < 100; i++) yield { name: `etc/conf${i}`, body: textish(2000, i), pax: { 'SCHILY.xattr.user.bench': `v${i}` } };
  for (let i = 0; i < 100; i++) yield { name: `etc/alias${i}`, type: 'link', linkname: `etc/conf${i}` };
}

async function main(): Promise<void> {
  const names = ['base (3000 mixed files)', 'big (4 x 64 MiB)', 'small files (20 000 x 1 KiB)', 'whiteouts/xattrs/hardlinks'];
  const tars = [await tarOf(baseLayer()), await tarOf(bigLayer()), await tarOf(smallFilesLayer()), await tarOf(metadataLayer())];
  const gz = tars.map((t) => gzipSync(t, { level: 1 }));
  const chain: { chainId: string; parent: string | undefined; diffId: string }[] = [];
  for (const t of tars) {
    const diffId = 'sha256:' + createHash('sha256').update(t).digest('hex');
    const parent = chain[chain.length - 1]?.chainId;
    chain.push({ diffId, parent, chainId: layerIdOf(parent, diffId) });
  }
  const total = tars.reduce((n, t) => n + t.length, 0);
  console.log(`image: ${tars.length} layers, ${(total / MB).toFixed(0)} MB uncompressed, ${(gz.reduce((n, g) => n + g.length, 0) / MB).toFixed(0)} MB gzip; dir ${BASE}; ${N} iterations`);

  const perLayer: number[][] = tars.map(() => []);
  const whole: number[] = [];
  const sideBySide: number[] = [];
  const floor: number[] = [];
  for (let it = 0; it < N; it++) {
    const dir = await fs.mkdtemp(path.join(BASE, 'crio-bench-unpack-'));
    try {
      const store = new LayerStore({ graphRoot: path.join(dir, 'layers'), log: nullLogger() });
      await store.init();
      // Untimed syncs: each timed part pays for making its own writes durable, not for the last part's.
      await syncFilesystem(dir);
      whole.push(
        await timeMs(async () => {
          for (const [i, c] of chain.entries()) {
            const tar = Readable.from([gz[i] as Buffer]).pipe(decompressorFor('gzip', `layer ${i}`));
            perLayer[i]?.push(await timeMs(() => store.applyLayer({ layerId: c.chainId, parentLayerId: c.parent, diffId: c.diffId, tar }, ctx)));
          }
        }),
      );
      const parallelStore = new LayerStore({ graphRoot: path.join(dir, 'layers-side-by-side'), log: nullLogger() });
      await parallelStore.init();
      await syncFilesystem(dir);
      sideBySide.push(
        await timeMs(async () => {
          const runs: Promise<void>[] = [];
          for (const [i, c] of chain.entries()) {
            const tar = Readable.from([gz[i] as Buffer]).pipe(decompressorFor('gzip', `layer ${i}`));
            runs.push(parallelStore.applyLayer({ layerId: c.chainId, parentLayerId: c.parent, diffId: c.diffId, tar, ...(i > 0 ? { parentApplied: runs[i - 1] } : {}) }, ctx));
          }
          await Promise.all(runs);
        }),
      );
      // Floor: GNU tar -x of the same gzip blobs into plain directories on the same disk (no overlay conversion, no sync).
      await syncFilesystem(dir);
      floor.push(
        await timeMs(async () => {
          for (const [i, g] of gz.entries()) {
            const out = path.join(dir, `gnutar-${i}`);
            await fs.mkdir(out);
            const r = await runProgram('tar', ['-x', '-z', '-f', '-', '-C', out, '--numeric-owner', '--same-owner', '--xattrs'], { input: g });
            if (r.exitCode !== 0) throw new Error(`tar: ${r.stderr.toString()}`);
          }
        }),
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  const mbps = (bytes: number, ms: number[]) => ms.map((m) => bytes / MB / (m / 1000));
  const rate = (name: string, bytes: number, ms: number[]): string => {
    const r = mbps(bytes, ms).sort((a, b) => a - b);
    return `${name.padEnd(44)} ${(r[Math.floor(r.length / 2)] ?? 0).toFixed(0).padStart(5)} MB/s   (${(bytes / MB).toFixed(0)} MB, p50 of ${r.length})`;
  };
  for (const [i, n] of names.entries()) console.log(rate(`unpack layer ${i + 1}: ${n}`, tars[i]?.length ?? 0, perLayer[i] ?? []));
  console.log(rate('unpack whole image (gunzip + unpack + sync)', total, whole));
  console.log(rate('unpack whole image, layers side by side', total, sideBySide));
  console.log(rate('floor: GNU tar -xz of the same layers', total, floor));
  // Per-iteration ratios: floor and unpacks ran back to back, so load from other work mostly cancels.
  const ratio = (ms: number[]): string => {
    const r = ms.map((m, i) => (floor[i] ?? NaN) / m).sort((a, b) => a - b);
    return `${(r[Math.floor(r.length / 2)] ?? 0).toFixed(2)}× floor`;
  };
  console.log(`ratio to floor (p50 of per-iteration ratios): one by one ${ratio(whole)}, side by side ${ratio(sideBySide)}`);
  await usageBench();
}

/** 100 container layers with 300 files each: what a kubelet poll of every container's usage costs. */
async function usageBench(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(BASE, 'crio-bench-usage-'));
  try {
    const graphRoot = path.join(dir, 'layers');
    const store = new LayerStore({ graphRoot, log: nullLogger() });
    await store.init();
    const tar = await tarOf([{ name: 'etc/hostname', body: Buffer.from('x') }]);
    const diffId = 'sha256:' + createHash('sha256').update(tar).digest('hex');
    const layerId = layerIdOf(undefined, diffId);
    await store.applyLayer({ layerId, parentLayerId: undefined, diffId, tar: Readable.from([tar]) }, ctx);
    const images = new ImageRecords(graphRoot, nullLogger());
    await images.init();
    const imageId = 'b'.repeat(64);
    await images.createImage({ id: imageId, names: [], topLayer: layerId, created: undefined, metadata: '{}', bigData: [] });
    const containers = new ContainerLayers({ graphRoot, runRoot: path.join(dir, 'run'), layerStore: store, images, log: nullLogger() });
    await containers.init();
    const ids = Array.from({ length: 100 }, (_, i) => `bench${i}`);
    for (const id of ids) {
      const name = `k8s_${id}_bench_default_0_0`;
      const { rootfs } = await containers.create(id, {
        imageId,
        names: [name],
        metadata: { 'pod-name': 'k8s_bench_default_0_0', 'pod-id': 'p'.repeat(64), 'image-name': 'bench', 'image-id': imageId, name, 'metadata-name': id, 'created-at': 0 },
      });
      await fs.mkdir(path.join(rootfs, 'var/log/app'), { recursive: true });
      for (let f = 0; f < 300; f++) await fs.writeFile(path.join(rootfs, 'var/log/app', `f${f}`), textish(4096, f));
    }
    const poll = async () => {
      for (const id of ids) await containers.usage(id);
      await containers.totalUsage();
      await store.usage();
    };
    console.log(row('usage poll, 100 containers: first (walks)', [await timeMs(poll)]));
    const warm: number[] = [];
    for (let i = 0; i < 20; i++) warm.push(await timeMs(poll));
    console.log(row('usage poll, 100 containers: next polls', warm));
  } finally {
    for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
