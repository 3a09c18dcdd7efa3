import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import type { OpContext } from '../lib/context';
import { ImageService } from '../lib/image/image-service';
import type { ApplyLayerParams, LayerSink } from '../lib/image/layer-sink';
import { nullLogger } from '../lib/log';
import { runProgram } from '../lib/process';
import { ContainerRecords } from '../lib/storage/container-records';
import { ImageRecords } from '../lib/storage/image-records';
import { LayerStore } from '../lib/storage/layer-store';
import { syncFilesystem } from '../lib/storage/sync-fs';
import { startRegistry, type TestRegistry } from '../test/harness/registry';
import { sha256, type BuiltImage } from '../test/harness/test-images';
import { percentile, pool } from './stats';

/**
 * Image pull throughput against the machine's floor for the same work (issue 17): four
 * concurrent `curl <blob> | tee >(sha256sum) | tar -xz` pipelines unpacking every layer of the
 * image into the same filesystem. Two images, generated here and pushed to a local
 * docker-registry:
 *  - big: 4 gzip layers of 48 MiB incompressible data (1 MiB files), ~201 MB;
 *  - small: 48 layers of 256 files of 4 KiB (half random, half text), many small writes.
 * Each run times, back to back (the machine is shared): the floor; the pull through
 * ImageService into a containers/storage store (download, digests, gunzip, DiffID, unpack,
 * tar-split, records: what PullImage does); and the same pull into a sink that reads each
 * tar and drops it (where the time goes when it is not the disk). Printed: medians, MB/s of
 * compressed bytes, and the median of per-run ratios floor time / pull time (≥ 1.00× means
 * the pull is at least as fast as the floor).
 * Usage: node build/bench/pull.js [big|small|both=both] [runs=5] [only=all|store]
 */

const SCENARIO = process.argv[2] ?? 'both';
const RUNS = Number(process.argv[3] ?? 5);
const ONLY = process.argv[4] ?? 'all';
const FLOOR_PIPELINES = 4;

interface LayerPlan {
  files: number;
  fileBytes: number;
  /** Fraction of each file that is random (the rest is text that compresses well). */
  random: number;
}

const SCENARIOS: Record<string, { name: string; layers: LayerPlan[] }> = {
  big: { name: '4 layers of 48 MiB incompressible data', layers: Array.from({ length: 4 }, () => ({ files: 48, fileBytes: 1 << 20, random: 1 })) },
  small: { name: '48 layers of 256 files of 4 KiB', layers: Array.from({ length: 48 }, () => ({ files: 256, fileBytes: 4096, random: 0.5 })) },
};

const TEXT = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(200));

function fileContent(plan: LayerPlan): Buffer {
  const randomPart = Math.round(plan.fileBytes * plan.random);
  const out = Buffer.alloc(plan.fileBytes);
  randomBytes(randomPart).copy(out);
  for (let off = randomPart; off < plan.fileBytes; off += TEXT.length) TEXT.copy(out, off, 0, Math.min(TEXT.length, plan.fileBytes - off));
  return out;
}

async function layerTar(index: number, plan: LayerPlan): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  pack.entry({ name: `layer${index}/`, type: 'directory', mode: 0o755, mtime: new Date(0) });
  for (let f = 0; f < plan.files; f++) {
    const content = fileContent(plan);
    pack.entry({ name: `layer${index}/file${f}`, mode: 0o644, size: content.length, mtime: new Date(0) }, content);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function buildImage(plans: LayerPlan[]): Promise<BuiltImage> {
  const layers: BuiltImage['layers'] = [];
  for (const [i, plan] of plans.entries()) {
    const tar = await layerTar(i, plan);
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

function bash(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`floor pipeline failed (${code}): ${err}`))));
  });
}

/** The floor: every layer through curl | tee >(sha256sum) | tar -xz, four pipelines at a time. */
async function timeFloor(dir: string, registry: TestRegistry, repo: string, img: BuiltImage): Promise<number> {
  await fs.mkdir(dir, { recursive: true });
  const t0 = process.hrtime.bigint();
  await pool(
    img.layers.map((l, i) => ({ l, i })),
    FLOOR_PIPELINES,
    async ({ l, i }) => {
      const out = path.join(dir, String(i));
      await fs.mkdir(out);
      await bash(`curl -sSf http://${registry.host}/v2/${repo}/blobs/${l.digest} | tee >(sha256sum >/dev/null) | tar -xzf - -C ${out}`);
    },
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function timePull(dir: string, host: string, ref: string, sink?: LayerSink): Promise<number> {
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
  await svc.pull(ref, undefined, ctx).catch((err: unknown) => {
    if (!sink) throw err;
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  // The store keeps overlay/ bind-mounted privately (as containers/storage does): let it go.
  await runProgram('umount', ['-l', path.join(graphRoot, 'overlay')]);
  return s;
}

async function runScenario(key: string, tmp: string, registry: TestRegistry): Promise<void> {
  const scenario = SCENARIOS[key];
  if (!scenario) throw new Error(`unknown scenario ${key} (big, small or both)`);
  process.stdout.write(`\n${key}: building ${scenario.name}...\n`);
  const img = await buildImage(scenario.layers);
  const repo = `bench/${key}`;
  await registry.push(repo, '1', img);
  const mb = img.layers.reduce((n, l) => n + l.bytes.length, 0) / 1e6;
  const ref = `${registry.host}/${repo}:1`;
  const times: Record<'floor' | 'drain' | 'store', number[]> = { floor: [], drain: [], store: [] };
  for (let run = 0; run < RUNS; run++) {
    const runDir = path.join(tmp, `${key}-${run}`);
    // Untimed: write-back left by the previous step must not be charged to the next.
    await syncFilesystem(tmp);
    if (ONLY === 'all') {
      times.floor.push(await timeFloor(path.join(runDir, 'floor'), registry, repo, img));
      times.drain.push(await timePull(path.join(runDir, 'drain'), registry.host, ref, new DrainSink()));
      await syncFilesystem(tmp);
    }
    times.store.push(await timePull(path.join(runDir, 'store'), registry.host, ref));
    await fs.rm(runDir, { recursive: true, force: true });
    const f = (xs: number[]) => (xs[run] === undefined ? '-' : `${xs[run]?.toFixed(2)} s`);
    process.stdout.write(`run ${run + 1}: floor ${f(times.floor)}, drain ${f(times.drain)}, store ${f(times.store)}\n`);
  }
  const median = (xs: number[]): number => percentile(xs, 50);
  process.stdout.write(`${key}: ${img.layers.length} layers, ${mb.toFixed(1)} MB compressed; medians of ${RUNS} runs\n`);
  const rows: [string, number[]][] = [
    [`floor: ${FLOOR_PIPELINES}× curl | tee >(sha256sum) | tar -xz`, times.floor],
    ['pull, tar read and dropped', times.drain],
    ['pull into the store (PullImage\'s work)', times.store],
  ];
  for (const [what, ts] of rows) {
    if (ts.length === 0) continue;
    const s = median(ts);
    const ratio = times.floor.length ? median(ts.map((t, i) => (times.floor[i] ?? NaN) / t)).toFixed(2) + '× floor' : '';
    process.stdout.write(`  ${what.padEnd(44)} ${s.toFixed(2).padStart(6)} s ${(mb / s).toFixed(1).padStart(7)} MB/s  ${ratio}\n`);
  }
}

async function main(): Promise<void> {
  // On the root filesystem, like /var/lib/containers: tmpfs would flatter both sides.
  const tmp = await fs.mkdtemp(path.join('/var/tmp', 'crio-ts-bench-pull-'));
  const registry = await startRegistry();
  try {
    for (const key of SCENARIO === 'both' ? ['big', 'small'] : [SCENARIO]) await runScenario(key, tmp, registry);
  } finally {
    await registry.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

