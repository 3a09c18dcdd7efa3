import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { backgroundContext } from '../../lib/context';
import { nullLogger } from '../../lib/log';
import { runProgram } from '../../lib/process';
import { inventoryOf, LayerStore } from '../../lib/storage/layer-store';
import { layerIdOf } from '../../lib/storage/store-records';
import { listMountsUnder, mount, unmount } from '../../lib/storage/mount';

/*
 * Layers at scale, streamed: a tar bomb of 100 000 tiny files and 2 GiB files (plain zeros and
 * GNU sparse) go through LayerStore.applyLayer from generated streams that are never held in
 * memory, and the process's memory stays bounded. The store sits on a private tmpfs so the
 * test measures the unpacker, not the disk; `after` unmounts it.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (tmpfs mount)' : false;
const ctx = backgroundContext(nullLogger());
const GiB = 1024 ** 3;
let tmp = '';
let store: LayerStore;

/** A ustar header block. */
function header(name: string, size: number, type: '0' | '5'): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'utf8');
  b.write(type === '5' ? '0000755\0' : '0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('14000000000\0', 136, 'latin1');
  b.write(type, 156, 'latin1');
  b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** Streams the tar made of `parts` lazily, in chunks of about 64 KiB as a registry download would arrive. */
function generated(parts: () => Iterable<Buffer>): Readable {
  function* chunked(): Generator<Buffer> {
    let acc: Buffer[] = [];
    let size = 0;
    for (const p of parts()) {
      if (p.length >= 65536) {
        if (size > 0) yield Buffer.concat(acc, size);
        acc = [];
        size = 0;
        yield p;
        continue;
      }
      acc.push(p);
      size += p.length;
      if (size >= 65536) {
        yield Buffer.concat(acc, size);
        acc = [];
        size = 0;
      }
    }
    acc.push(Buffer.alloc(1024));
    yield Buffer.concat(acc);
  }
  return Readable.from(chunked(), { objectMode: false });
}

/** Peak resident memory growth while `fn` runs. */
async function peakRssGrowth(fn: () => Promise<void>): Promise<number> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    await fn();
  } finally {
    clearInterval(t);
  }
  return Math.max(peak, process.memoryUsage().rss) - base;
}

/**
 * Applies a generated base layer. The store checks chain-ID consistency, not the DiffID (the
 * puller verifies that while streaming), so a made-up DiffID spares hashing the stream twice.
 */
async function applyGenerated(name: string, parts: () => Iterable<Buffer>): Promise<{ chainId: string; rss: number }> {
  const diffId = 'sha256:' + createHash('sha256').update(name).digest('hex');
  const chainId = layerIdOf(undefined, diffId);
  const rss = await peakRssGrowth(() => store.applyLayer({ layerId: chainId, parentLayerId: undefined, diffId, tar: generated(parts) }, ctx));
  return { chainId, rss };
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-scale-it-'));
  await mount({ source: 'tmpfs', fstype: 'tmpfs', target: tmp, options: ['size=3g', 'nr_inodes=400k'] });
  store = new LayerStore({ graphRoot: path.join(tmp, 'graph'), log: nullLogger() });
  await store.init();
});

after(async () => {
  if (!tmp) return;
  for (const m of await listMountsUnder(tmp)) await unmount(m, { detach: true });
  await fs.rm(tmp, { recursive: true, force: true });
});

test('a tar bomb of 100 000 tiny files unpacks with bounded memory', { skip }, async () => {
  const DIRS = 100;
  const PER_DIR = 1000;
  const one = Buffer.alloc(512);
  one[0] = 0x78;
  const { chainId, rss } = await applyGenerated('bomb', function* () {
    for (let d = 0; d < DIRS; d++) {
      yield header(`d${d}/`, 0, '5');
      for (let f = 0; f < PER_DIR; f++) {
        yield header(`d${d}/f${f}`, 1, '0');
        yield one;
      }
    }
  });
  const rec = await store.getLayer(chainId);
  assert.equal(rec ? inventoryOf(rec.layer)?.inodes : undefined, 1 + DIRS + DIRS * PER_DIR);
  assert.equal((await fs.readdir(path.join(store.home, chainId, 'diff', 'd99'))).length, PER_DIR);
  assert.ok(rss < 256 * 1024 * 1024, `resident memory grew by ${Math.round(rss / 1e6)} MB for a ~100 MB archive`);
  await store.removeLayer(chainId);
});

test('a 2 GiB file of zeros is streamed and stays sparse', { skip }, async () => {
  const zeros = Buffer.alloc(1024 * 1024);
  const { chainId, rss } = await applyGenerated('zeros', function* () {
    yield header('var/log/lastlog', 2 * GiB, '0');
    for (let i = 0; i < 2048; i++) yield zeros;
  });
  const st = await fs.stat(path.join(store.home, chainId, 'diff/var/log/lastlog'));
  assert.equal(st.size, 2 * GiB);
  assert.equal(st.blocks, 0, 'no block allocated for zeros');
  assert.ok(rss < 256 * 1024 * 1024, `resident memory grew by ${Math.round(rss / 1e6)} MB for a 2 GiB file`);
  await store.removeLayer(chainId);
});

test('a 2 GiB GNU-sparse file stays sparse', { skip }, async () => {
  const src = path.join(tmp, 'src');
  await fs.mkdir(src);
  const fh = await fs.open(path.join(src, 'disk.img'), 'w');
  await fh.truncate(2 * GiB);
  await fh.write(Buffer.alloc(4096, 0xab), 0, 4096, GiB);
  await fh.close();
  const tar = await runProgram('tar', ['-c', '-f', '-', '--sparse', '--format=posix', 'disk.img'], { cwd: src });
  assert.equal(tar.exitCode, 0, tar.stderr.toString());
  assert.ok(tar.stdout.length < 64 * 1024);
  const diffId = 'sha256:' + createHash('sha256').update(tar.stdout).digest('hex');
  const chainId = layerIdOf(undefined, diffId);
  await store.applyLayer({ layerId: chainId, parentLayerId: undefined, diffId, tar: Readable.from([tar.stdout]) }, ctx);
  const file = path.join(store.home, chainId, 'diff/disk.img');
  const st = await fs.stat(file);
  assert.equal(st.size, 2 * GiB);
  assert.ok(st.blocks <= 16, `allocated ${st.blocks} blocks`);
  const rd = await fs.open(file, 'r');
  const b = Buffer.alloc(4096);
  await rd.read(b, 0, 4096, GiB);
  await rd.close();
  assert.ok(b.equals(Buffer.alloc(4096, 0xab)));
  const located = await store.getLayer(chainId);
  assert.equal(located ? inventoryOf(located.layer)?.fileBytes : undefined, 2 * GiB);
});
