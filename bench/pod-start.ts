import os from 'node:os';
import { benchPodConfig, startBenchPod } from './bench-daemon';
import { startFloorBench, stopFloorBench } from './floor-pod';
import { percentile, result, row, runBench, timeMs } from './stats';

/**
 * Pod + container start: RunPodSandbox + CreateContainer + StartContainer through the CRI,
 * next to the floor measured by this same script (floor-pod.ts): `ip netns add` + CNI bridge ADD
 * + overlay mount + `runc run true`, with the same rootfs and the same bridge plugin; also
 * RunPodSandbox alone next to its own floor (`ip netns add` + CNI bridge ADD), and the same floor
 * with the seccomp filter the daemon applies by default (runc compiles it at every create, which
 * the plain floor does not pay). One crio-ts pod and two floor pods per round, so the machine's
 * load hits all alike; the first two rounds warm
 * caches (JIT, page cache) and are not counted. Ratios are of the p50s.
 * CreateContainer alone is shown next to the floor's rootfs step (overlay mount + config.json).
 * Usage: node build/bench/pod-start.js [iterations=20]
 * CRIO_BENCH_DROP_IN: extra crio.conf TOML for the daemon (e.g. to compare a setting within one
 * machine state: `[crio]\nstorage_option = ["crio-ts.volatile_records=true"]`).
 */

const N = Number(process.argv[2] ?? 20);
const NET_INDEX = 231;
const WARM_UP = 2;

async function main(): Promise<void> {
  const bench = await startFloorBench(NET_INDEX, process.env.CRIO_BENCH_DROP_IN ?? '');
  const { daemon, floorPods } = bench;
  try {
    const rt = daemon.cri.runtime;
    const ours: number[] = [];
    const oursSandbox: number[] = [];
    const floor: number[] = [];
    const floorSandbox: number[] = [];
    const floorSeccomp: number[] = [];
    const oursCreate: number[] = [];
    const floorRootfs: number[] = [];
    try {
      for (let i = 0; i < N + WARM_UP; i++) {
        let podSandboxId = '';
        let sandboxMs = 0;
        let createMs = 0;
        const t = await timeMs(async () => {
          ({ podSandboxId, sandboxMs, createMs } = await startBenchPod(daemon, benchPodConfig(daemon, `bench-${i}`)));
        });
        await rt.stopPodSandbox({ podSandboxId });
        await rt.removePodSandbox({ podSandboxId });

        const id = `crts-floor-${process.pid}-${i}`;
        const f0 = process.hrtime.bigint();
        let fSandbox = 0;
        let fRootfs = 0;
        const f = await timeMs(async () => {
          await floorPods.network(id);
          fSandbox = Number(process.hrtime.bigint() - f0) / 1e6;
          fRootfs = await timeMs(() => floorPods.rootfs(id, ['true']));
          await floorPods.run(id, false);
        });
        await floorPods.teardown(id);

        const sid = `crts-floor-${process.pid}-${i}-s`;
        const fs = await timeMs(async () => {
          await floorPods.network(sid);
          await floorPods.rootfs(sid, ['true'], true);
          await floorPods.run(sid, false);
        });
        await floorPods.teardown(sid);
        if (i < WARM_UP) continue;
        floorSeccomp.push(fs);
        ours.push(t);
        oursSandbox.push(sandboxMs);
        floor.push(f);
        floorSandbox.push(fSandbox);
        oursCreate.push(createMs);
        floorRootfs.push(fRootfs);
      }
    } finally {
      await floorPods.close();
    }
    const ratio = percentile(ours, 50) / percentile(floor, 50);
    const seccompRatio = percentile(ours, 50) / percentile(floorSeccomp, 50);
    const sandboxRatio = percentile(oursSandbox, 50) / percentile(floorSandbox, 50);
    const out = (l: string): void => void process.stdout.write(l + '\n');
    out(`pod + container start, ${N} rounds on ${os.cpus().length} cores`);
    out(row('floor: netns + CNI bridge + overlay + runc run', floor));
    out(row('crio-ts: RunPodSandbox + Create + Start', ours));
    out(`ratio p50 crio-ts / floor: ${ratio.toFixed(2)}x (target <= 1.2x, aim 1.0x; CRI-O 1.6x)`);
    out(row('floor with the default seccomp filter', floorSeccomp));
    out(`ratio p50 crio-ts / floor with seccomp: ${seccompRatio.toFixed(2)}x`);
    out(row('floor: netns + CNI bridge ADD', floorSandbox));
    out(row('crio-ts: RunPodSandbox', oursSandbox));
    out(`ratio p50 RunPodSandbox / floor: ${sandboxRatio.toFixed(2)}x`);
    const createRatio = percentile(oursCreate, 50) / percentile(floorRootfs, 50);
    out(row('floor: overlay mount + config.json', floorRootfs));
    out(row('crio-ts: CreateContainer', oursCreate));
    out(`ratio p50 CreateContainer / floor: ${createRatio.toFixed(2)}x`);
    out(result({ name: 'pod start (RunPodSandbox + Create + Start)', value: percentile(ours, 50), floor: percentile(floor, 50), ratio, unit: 'ms' }));
    out(result({ name: 'pod start vs floor with seccomp', value: percentile(ours, 50), floor: percentile(floorSeccomp, 50), ratio: seccompRatio, unit: 'ms' }));
    out(result({ name: 'RunPodSandbox', value: percentile(oursSandbox, 50), floor: percentile(floorSandbox, 50), ratio: sandboxRatio, unit: 'ms' }));
    out(result({ name: 'CreateContainer', value: percentile(oursCreate, 50), floor: percentile(floorRootfs, 50), ratio: createRatio, unit: 'ms' }));
  } finally {
    await stopFloorBench(bench);
  }
}

runBench(main);
