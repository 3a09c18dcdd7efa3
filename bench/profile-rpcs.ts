import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectCri, type CriClients } from '../test/harness/cri-client';
import { startBenchDaemon, startSleepPods } from './bench-daemon';
import { cpuMs, daemonPid } from './proc-memory';
import { monotonicUs, profilesIn, summarizeProfile, type Window } from './cpu-profile';
import { runBench } from './stats';

/**
 * Where the daemon's CPU goes per List/Status call: a CPU profile (node --cpu-prof) of the daemon
 * serving `rounds` × (Version, ListPodSandbox, ListContainers, ContainerStatus) with `pods`
 * running pods, once from a client with a valid :authority (grpc-js, new gRPC-Go) and once from
 * one that sends the socket path (kubelet/crictl ≤ 1.26, whose requests are rewritten). The
 * daemon restarts before each so each profile holds that client's calls only.
 * Usage: node build/bench/profile-rpcs.js [pods=30] [rounds=2000] [topN=25]
 */

const PODS = Number(process.argv[2] ?? 30);
const ROUNDS = Number(process.argv[3] ?? 2000);
const TOP = Number(process.argv[4] ?? 25);
const NET_INDEX = 172;

async function calls(cri: CriClients, containerIds: string[]): Promise<number> {
  const rt = cri.runtime;
  for (let i = 0; i < ROUNDS; i++) {
    await rt.version({});
    await rt.listPodSandbox({});
    await rt.listContainers({});
    await rt.containerStatus({ containerId: containerIds[i % containerIds.length] ?? '' });
  }
  return ROUNDS * 4;
}

async function main(): Promise<void> {
  const profDir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-prof-'));
  const { registry, daemon } = await startBenchDaemon(NET_INDEX, '', ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  const out = (l: string): void => void process.stdout.write(l + '\n');
  try {
    await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
    const pods = await startSleepPods(daemon, PODS, { hostNetwork: true, concurrency: 2 });
    const ids = pods.map((p) => p.containerId);
    for (const [label, options] of [
      ['client :authority localhost (grpc-js, gRPC-Go ≥ 1.27 kubelet)', undefined],
      ['client :authority = socket path (kubelet/crictl ≤ 1.26: rewritten)', { 'grpc.default_authority': daemon.socket }],
    ] as const) {
      await daemon.restart();
      const cri = connectCri(daemon.socket, options);
      await cri.runtime.version({}); // connected before the window opens
      const pid = await daemonPid(daemon);
      const cpu0 = await cpuMs(pid);
      const from = monotonicUs();
      const n = await calls(cri, ids);
      const window: Window = [from, monotonicUs()];
      const cpu = (await cpuMs(pid)) - cpu0;
      cri.close();
      await daemon.restart(); // writes this profile
      const files = await profilesIn(profDir);
      out(`== ${label}: daemon CPU ${((cpu * 1000) / n).toFixed(0)} µs per call (/proc, ${n} calls)`);
      for (const l of await summarizeProfile(files[files.length - 1] ?? '', n, TOP, window)) out(l);
    }
  } finally {
    await daemon.cleanup();
    await registry.stop();
    out(`profiles kept in ${profDir}`);
  }
}

runBench(main);
