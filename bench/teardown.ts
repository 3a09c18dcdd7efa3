import os from 'node:os';
import { startSleepPods } from './bench-daemon';
import { startFloorBench, stopFloorBench } from './floor-pod';
import { percentile, result, row, runBench, timeMs } from './stats';

/**
 * Pod teardown: StopContainer (timeout 0) + StopPodSandbox + RemovePodSandbox of a networked pod
 * running one `sleep` container (each step timed too), next to its floor measured in the same
 * rounds (floor-pod.ts): `runc kill KILL` + `runc delete --force`, CNI bridge DEL, `ip netns del`,
 * umount of the container's overlay, serially. Set-up (pod start) is not timed. One crio-ts pod
 * and one floor pod per round; the first two rounds are warm-up. Issue 17: ≤ 1.5× the floor.
 * Usage: node build/bench/teardown.js [iterations=20]
 */

const N = Number(process.argv[2] ?? 20);
const NET_INDEX = 233;
const WARM_UP = 2;

async function main(): Promise<void> {
  const bench = await startFloorBench(NET_INDEX);
  const { daemon, floorPods } = bench;
  try {
    const rt = daemon.cri.runtime;
    const t = { total: [] as number[], stopContainer: [] as number[], stopPod: [] as number[], removePod: [] as number[], floor: [] as number[] };
    try {
      for (let i = 0; i < N + WARM_UP; i++) {
        const [pod] = await startSleepPods(daemon, 1, { prefix: `td-${i}` });
        if (!pod) throw new Error('no pod started');
        const { podSandboxId, containerId } = pod;
        const stopContainer = await timeMs(() => rt.stopContainer({ containerId, timeout: 0n }));
        const stopPod = await timeMs(() => rt.stopPodSandbox({ podSandboxId }));
        const removePod = await timeMs(() => rt.removePodSandbox({ podSandboxId }));

        const id = `crts-td-${process.pid}-${i}`;
        await floorPods.network(id);
        await floorPods.rootfs(id, ['sleep', '3600']);
        await floorPods.run(id, true);
        const floor = await timeMs(() => floorPods.teardown(id));
        if (i < WARM_UP) continue;
        t.stopContainer.push(stopContainer);
        t.stopPod.push(stopPod);
        t.removePod.push(removePod);
        t.total.push(stopContainer + stopPod + removePod);
        t.floor.push(floor);
      }
    } finally {
      await floorPods.close();
    }
    const ratio = percentile(t.total, 50) / percentile(t.floor, 50);
    const out = (l: string): void => void process.stdout.write(l + '\n');
    out(`pod teardown, ${N} rounds on ${os.cpus().length} cores`);
    out(row('floor: runc kill/delete + CNI DEL + netns del + umount', t.floor));
    out(row('crio-ts: StopContainer(0) + StopPod + RemovePod', t.total));
    out(row('  StopContainer (timeout 0)', t.stopContainer));
    out(row('  StopPodSandbox', t.stopPod));
    out(row('  RemovePodSandbox', t.removePod));
    out(`ratio p50 crio-ts / floor: ${ratio.toFixed(2)}x (target <= 1.5x; CRI-O 2.5x)`);
    out(result({ name: 'teardown (StopContainer + StopPodSandbox + RemovePodSandbox)', value: percentile(t.total, 50), floor: percentile(t.floor, 50), ratio, unit: 'ms' }));
    out(result({ name: '  StopContainer(0)', value: percentile(t.stopContainer, 50), unit: 'ms' }));
    out(result({ name: '  StopPodSandbox', value: percentile(t.stopPod, 50), unit: 'ms' }));
    out(result({ name: '  RemovePodSandbox', value: percentile(t.removePod, 50), unit: 'ms' }));
  } finally {
    await stopFloorBench(bench);
  }
}

runBench(main);
