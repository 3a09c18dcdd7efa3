import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { backgroundContext } from '../lib/context';
import { nullLogger } from '../lib/log';
import { ContainerLayers } from '../lib/storage/container-layers';
import { ImageRecords } from '../lib/storage/image-records';
import { LayerStore } from '../lib/storage/layer-store';
import { listMountsUnder, mount, unmount } from '../lib/storage/mount';
import { removeTree } from '../lib/storage/remove-tree';
import { layerIdOf } from '../lib/storage/store-records';
import { percentile, result, row, runBench, timeMs } from './stats';

/**
 * The storage half of CreateContainer and RemoveContainer: ContainerLayers.create (records,
 * writable layer, overlay mount) and remove, with the records in the durable files (fsync, the
 * default) and in the volatile ones (`crio-ts.volatile_records=true`: no fsync), next to a floor
 * of the same filesystem work without records (mkdir upper/work/merged + `mount -t overlay`;
 * `umount` + rm -r). The three run in turn in every round (order rotating) on one store, so the
 * machine's load hits all alike; the first 5 rounds are not counted. Ratios are of the p50s.
 * Usage: node build/bench/container-layers.js [rounds=60] [dir=os.tmpdir()]
 */

const N = Number(process.argv[2] ?? 60);
const BASE = process.argv[3] ?? os.tmpdir();
const WARM_UP = 5;

async function baseLayerTar(): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  p.entry({ name: 'etc/hostname', mode: 0o644 }, 'bench');
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(BASE, 'crio-bench-ctr-layers-'));
  try {
    const graphRoot = path.join(dir, 'graph');
    const log = nullLogger();
    const store = new LayerStore({ graphRoot, log });
    await store.init();
    const tar = await baseLayerTar();
    const diffId = 'sha256:' + createHash('sha256').update(tar).digest('hex');
    const base = layerIdOf(undefined, diffId);
    await store.applyLayer({ layerId: base, parentLayerId: undefined, diffId, tar: Readable.from([tar]) }, backgroundContext(log));
    const images = new ImageRecords(graphRoot, log);
    await images.init();
    const imageId = 'b'.repeat(64);
    await images.createImage({ id: imageId, names: [], topLayer: base, created: undefined, metadata: '{}', bigData: [] });
    const open = async (volatileRecords: boolean): Promise<ContainerLayers> => {
      const c = new ContainerLayers({ graphRoot, runRoot: path.join(dir, 'run'), layerStore: store, images, log, volatileRecords });
      await c.init();
      return c;
    };
    const variants = { durable: await open(false), volatile: await open(true) };
    const lower = path.join(store.home, base, 'diff');
    const floorDir = path.join(dir, 'floor');

    const t: Record<'floor' | 'durable' | 'volatile', { create: number[]; remove: number[] }> = {
      floor: { create: [], remove: [] },
      durable: { create: [], remove: [] },
      volatile: { create: [], remove: [] },
    };
    const runs: Record<keyof typeof t, (i: number) => Promise<[number, number]>> = {
      floor: async (i) => {
        const d = path.join(floorDir, `c${i}`);
        const create = await timeMs(async () => {
          for (const s of ['diff', 'work', 'merged']) await fs.mkdir(path.join(d, s), { recursive: true });
          await mount({ source: 'overlay', fstype: 'overlay', target: path.join(d, 'merged'), options: [`lowerdir=${lower}`, `upperdir=${d}/diff`, `workdir=${d}/work`] });
        });
        const remove = await timeMs(async () => {
          await unmount(path.join(d, 'merged'), { detach: true });
          await removeTree(d);
        });
        return [create, remove];
      },
      durable: async (i) => cycle(variants.durable, `durable${i}`),
      volatile: async (i) => cycle(variants.volatile, `volatile${i}`),
    };
    async function cycle(c: ContainerLayers, id: string): Promise<[number, number]> {
      const name = `k8s_${id}_bench_default_0_0`;
      const meta = { 'pod-name': 'k8s_bench_default_0_0', 'pod-id': 'p'.repeat(64), 'image-name': 'bench', 'image-id': imageId, name, 'metadata-name': id, 'created-at': 0 };
      const create = await timeMs(() => c.create(id, { imageId, names: [name], metadata: meta }));
      const remove = await timeMs(() => c.remove(id));
      return [create, remove];
    }
    const order: (keyof typeof t)[] = ['floor', 'durable', 'volatile'];
    for (let i = 0; i < N + WARM_UP; i++) {
      for (let k = 0; k < order.length; k++) {
        const which = order[(i + k) % order.length] as keyof typeof t;
        const [create, remove] = await runs[which](i);
        if (i < WARM_UP) continue;
        t[which].create.push(create);
        t[which].remove.push(remove);
      }
    }
    const out = (l: string): void => void process.stdout.write(l + '\n');
    const p50 = (v: number[]): number => percentile(v, 50);
    out(`container layer create + remove, ${N} rounds on ${os.cpus().length} cores`);
    for (const op of ['create', 'remove'] as const) {
      out(row(op === 'create' ? 'floor: mkdir + overlay mount' : 'floor: umount + rm -r', t.floor[op]));
      out(row(`${op}, durable records (fsync)`, t.durable[op]));
      out(row(`${op}, volatile records (no fsync)`, t.volatile[op]));
      out(`ratio p50 to floor: durable ${(p50(t.durable[op]) / p50(t.floor[op])).toFixed(2)}x, volatile ${(p50(t.volatile[op]) / p50(t.floor[op])).toFixed(2)}x`);
    }
    for (const op of ['create', 'remove'] as const) {
      for (const v of ['durable', 'volatile'] as const) {
        out(result({ name: `container layer ${op}, ${v} records`, value: p50(t[v][op]), floor: p50(t.floor[op]), ratio: p50(t[v][op]) / p50(t.floor[op]), unit: 'ms' }));
      }
    }
  } finally {
    for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
    await fs.rm(dir, { recursive: true, force: true });
  }
}

runBench(main);
