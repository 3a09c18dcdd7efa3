import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import type { OpContext } from '../lib/context';
import { ImageService } from '../lib/image/image-service';
import type { ApplyLayerParams, LayerSink } from '../lib/image/layer-sink';
import { nullLogger } from '../lib/log';
import { ContainerRecords } from '../lib/storage/container-records';
import { ImageRecords } from '../lib/storage/image-records';
import { LayerStore } from '../lib/storage/layer-store';
import { syncFilesystem } from '../lib/storage/sync-fs';
import { startRegistry } from '../test/harness/registry';
import { sha256, type BuiltImage } from '../test/harness/test-images';
import { percentile } from './stats';

/**
 * Image pull throughput: a ~200 MB (compressed) image of several gzip layers, generated here
 * from random-ish data (half random, half text, so it compresses about 2:1 like binaries), is
 * pushed to a local docker-registry and pulled by ImageService (a) into the real layer store
 * (download + digest + gunzip + DiffID + unpack to disk) and (b) into a sink that only reads
 * the tar (no disk writes). The floor is single-core gunzip + sha256 of the same compressed
 * bytes in this process. The machine is shared, so each run measures floor, (b) and (a) back
 * to back; printed are medians and the median of the per-run ratios floor time / pull time
 * (≥ 1.00× means the pull keeps up with the floor).
 * Usage: node build/bench/pull.js [layers=4] [compressedMBPerLayer=50] [runs=5]
 */

const LAYERS = Number(process.argv[2] ?? 4);
const MB_PER_LAYER = Number(process.argv[3] ?? 50);
const RUNS = Number(process.argv[4] ?? 5);
const FILE_BYTES = 1 << 20;

/** 1 MiB files alternating 4 KiB random and 4 KiB of repeated text. */
function fileContent(pool: Buffer, text: Buffer, seed: number): Buffer {
  const out = Buffer.alloc(FILE_BYTES);
  for (let off = 0, i = 0; off < FILE_BYTES; off += 4096, i++) {
    if (i % 2 === 0) {
      const start = ((seed * 7919 + i * 104729) % (pool.length - 4096)) >>> 0;
      pool.copy(out, off, start, start + 4096);
    } else {
      text.copy(out, off, 0, 4096);
    }
  }
  return out;
}

async function layerTar(index: number, files: number, pool: Buffer, text: Buffer): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  pack.entry({ name: `layer${index}/`, type: 'directory', mode: 0o755, mtime: new Date(0) });
  for (let f = 0; f < files; f++) {
    const content = fileContent(pool, text, index * 100_000 + f);
    pack.entry({ name: `layer${index}/file${f}`, mode: 0o644, size: content.length, mtime: new Date(0) }, content);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function buildImage(): Promise<BuiltImage> {
  const pool = randomBytes(16 << 20);
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(100));
  const layers: BuiltImage['layers'] = [];
  for (let i = 0; i < LAYERS; i++) {
    // About 2:1, so twice the compressed size in files.
    const tar = await layerTar(i, MB_PER_LAYER * 2, pool, text);
    const bytes = gzipSync(tar, { level: 1 });
    layers.push({ bytes, digest: sha256(bytes), diffId: sha256(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
  }
  const config = { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest,
    manifestBytes,
    manifestDigest: sha256(manifestBytes),
    manifestMediaType: manifest.mediaType,
    config,
    configBytes,
    configDigest: sha256(configBytes),
    layers,
    platform: { os: 'linux', architecture: 'amd64' },
  };
}

/** Reads every layer tar to its end and keeps nothing. */
class DrainSink implements LayerSink {
  /** Nothing to commit in order, so layers may be read side by side as into the layer store. */
  readonly concurrentApply = true;
  private readonly have = new Set<string>();
  async hasLayer(layerId: string): Promise<boolean> {
    return this.have.has(layerId);
  }
  async applyLayer(p: ApplyLayerParams): Promise<void> {
    for await (const _ of p.tar) {
      // drain
    }
    this.have.add(p.layerId);
  }
}

async function timePull(dir: string, host: string, sink?: LayerSink): Promise<number> {
  await fs.mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'registries.conf');
  await fs.writeFile(conf, `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  // A whole containers/storage store: layers.json, tar-split, the image record, the locks.
  const graphRoot = path.join(dir, 'graph');
  const layers = new LayerStore({ graphRoot, log: nullLogger() });
  await layers.init();
  const images = new ImageRecords(graphRoot, nullLogger());
  await images.init();
  const containers = new ContainerRecords(graphRoot, path.join(dir, 'run'));
  await containers.init();
  // The drain sink never stores layers, so its pull ends before the image record (which needs them).
  const svc = new ImageService({ root: path.join(dir, 'images'), registriesConfFile: conf, storage: { layers, images, containers }, ...(sink ? { layerSink: sink } : {}), log: nullLogger(), shortNameAliasesFile: path.join(dir, 'none.conf') });
  await svc.init();
  const ctx: OpContext = { log: nullLogger(), signal: new AbortController().signal };
  const t0 = process.hrtime.bigint();
  await svc.pull(`${host}/bench/big:1`, undefined, ctx).catch((err: unknown) => {
    if (!sink) throw err;
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-bench-pull-'));
  const registry = await startRegistry();
  try {
    process.stdout.write(`building ${LAYERS} layers of ~${MB_PER_LAYER} MB compressed...\n`);
    const img = await buildImage();
    const compressed = img.layers.reduce((n, l) => n + l.bytes.length, 0);
    await registry.push('bench/big', '1', img);
    const mb = compressed / 1e6;

    const floorS: number[] = [];
    const drainS: number[] = [];
    const storeS: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Untimed: write-back left by the previous run must not be charged to this one.
      await syncFilesystem(tmp);
      const t0 = process.hrtime.bigint();
      for (const l of img.layers) {
        createHash('sha256').update(l.bytes).digest();
        createHash('sha256').update(gunzipSync(l.bytes)).digest();
      }
      floorS.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const runDir = path.join(tmp, `run${run}`);
      drainS.push(await timePull(path.join(runDir, 'drain'), registry.host, new DrainSink()));
      const storeRoot = path.join(runDir, 'store');
      await syncFilesystem(tmp);
      storeS.push(await timePull(storeRoot, registry.host));
      await fs.rm(runDir, { recursive: true, force: true });
      process.stdout.write(`run ${run + 1}: floor ${floorS[run]?.toFixed(2)} s, drain ${drainS[run]?.toFixed(2)} s, store ${storeS[run]?.toFixed(2)} s\n`);
    }

    const median = (xs: number[]): number => percentile(xs, 50);
    const rows: [string, number[]][] = [
      ['single-core gunzip + sha256 (floor)', floorS],
      ['pull, tar read and dropped', drainS],
      ['pull into the layer store (unpacked)', storeS],
    ];
    process.stdout.write(`image: ${img.layers.length} layers, ${mb.toFixed(1)} MB compressed; medians of ${RUNS} runs\n`);
    for (const [what, times] of rows) {
      const s = median(times);
      const ratio = median(times.map((t, i) => (floorS[i] ?? NaN) / t));
      process.stdout.write(`${what.padEnd(40)} ${s.toFixed(2).padStart(7)} s  ${(mb / s).toFixed(1).padStart(7)} MB/s  ${ratio.toFixed(2).padStart(5)}× floor\n`);
    }
  } finally {
    await registry.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
