import { startBenchDaemon } from './bench-daemon';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { NamespaceMode } from '../lib/cri/gen/api';
import { type TestDaemon } from '../test/harness/daemon';
import { measureListContainers } from './list-containers';
import { daemonPid, memoryLine, mib, nodeFloor, procMemory, pssKiB, settledMemory, type ProcMemory } from './proc-memory';
import { percentile, pool, result, runBench } from './stats';

/**
 * The daemon's footprint (issue 17's targets: idle ≤ 52 MiB, ≤ 67 MiB with 30 running pods) and
 * ListContainers at 500 containers (target ≤ 2 ms). RSS is read from /proc once it has settled
 * (V8 shrinks its heap a few seconds after activity): just started; after kubelet-like polling
 * (which makes V8 optimize the hot RPC code, as a real node does within minutes); with the
 * image pulled; with PODS running pods of one container each (the per-pod increase, plus each
 * pod's conmon, RSS and PSS); then ListContainers with 500 containers, taken apart.
 * The daemon starts as its launchers start it (lib/server/launch-env.ts, through the harness).
 * Usage: node build/bench/rss.js [pods=50] [iterations=200] [many=500] [net-index=170]   (pods=30
 * for issue 17's row; many=0 stops after the pods; CRIO_TS_BUILD=<build dir> measures another
 * build's daemon, and another net index lets it run beside this one)
 */

const PODS = Number(process.argv[2] ?? 50);
const N = Number(process.argv[3] ?? 200);
const MANY = Number(process.argv[4] ?? 500);
const NET_INDEX = Number(process.argv[5] ?? 170);
const POLL_ROUNDS = 300;

/** What the kubelet asks every few seconds (PLEG relist, status, image GC, stats), `rounds` times. */
async function kubeletPolling(daemon: TestDaemon, rounds: number): Promise<void> {
  const { runtime: rt, image: im } = daemon.cri;
  for (let i = 0; i < rounds; i++) {
    await rt.version({});
    await rt.status({});
    const { items } = await rt.listPodSandbox({});
    const { containers } = await rt.listContainers({});
    await im.imageFsInfo({});
    await im.listImages({});
    const pod = items[i % Math.max(1, items.length)];
    if (pod) await rt.podSandboxStatus({ podSandboxId: pod.id });
    const c = containers[i % Math.max(1, containers.length)];
    if (c) await rt.containerStatus({ containerId: c.id });
    if (i % 10 === 0) {
      await rt.listContainerStats({});
      await rt.listPodSandboxStats({});
    }
  }
}

function podConfig(daemon: TestDaemon, i: number) {
  return {
    metadata: { name: `rss-${i}`, namespace: 'bench', uid: `u${i}`, attempt: 0 },
    hostname: `rss-${i}`,
    logDirectory: path.join(daemon.dir, 'logs', `rss-${i}`),
    labels: { app: `rss-${i}` },
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
}

async function conmonPids(daemon: TestDaemon, ids: string[]): Promise<number[]> {
  return Promise.all(ids.map(async (id) => Number((await fs.readFile(path.join(daemon.dir, 'run', 'crio-bundles', id, 'conmon-pidfile'), 'utf8')).trim())));
}

async function main(): Promise<void> {
  const out = (line: string) => process.stdout.write(line + '\n');
  const floor = await nodeFloor([]);
  out(memoryLine('floor: node idle', floor));
  const ratio = (m: ProcMemory): string => `  ${(m.rss / floor.rss).toFixed(2)}× the floor`;
  // For bench/ab.ts: RSS in MiB against the bare node floor.
  const record = (name: string, m: ProcMemory): void => void out(result({ name, value: m.rss / 1024, floor: floor.rss / 1024, diff: (m.rss - floor.rss) / 1024, unit: 'MiB' }));
  // What the daemon cannot do without: gRPC, its logger and the generated CRI code (with the
  // daemon's V8 flags, applied by loading their module first as cmd/crio.ts does).
  out(memoryLine('floor: node + grpc-js + logger + CRI code', await nodeFloor(['../lib/server/v8-flags', '@grpc/grpc-js', '../lib/log', '../lib/cri/gen/api'])));
  const { registry, daemon } = await startBenchDaemon(NET_INDEX);
  try {
    const { runtime: rt, image: im } = daemon.cri;
    const pid = await daemonPid(daemon);
    out(memoryLine('daemon at ready', await procMemory(pid)));
    const idle = await settledMemory(pid);
    out(memoryLine('daemon idle, settled', idle) + ratio(idle));
    record('RSS idle', idle);
    await kubeletPolling(daemon, POLL_ROUNDS);
    const polled = await settledMemory(pid);
    out(memoryLine(`  after ${POLL_ROUNDS} kubelet-like polling rounds`, polled));
    record('RSS after polling', polled);

    await im.pullImage({ image: { image: 'busybox' } });
    await kubeletPolling(daemon, 50);
    const base = await settledMemory(pid);
    out(memoryLine('  with the image pulled', base) + ratio(base));
    record('RSS after a pull', base);

    const containers: string[] = [];
    const pods: { podSandboxId: string; config: ReturnType<typeof podConfig> }[] = [];
    for (let i = 0; i < PODS; i++) {
      const config = podConfig(daemon, i);
      const { podSandboxId } = await rt.runPodSandbox({ config });
      const { containerId } = await rt.createContainer({
        podSandboxId,
        sandboxConfig: config,
        config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], labels: { app: `rss-${i}` } },
      });
      await rt.startContainer({ containerId });
      pods.push({ podSandboxId, config });
      containers.push(containerId);
    }
    await kubeletPolling(daemon, 50);
    const withPods = await settledMemory(pid);
    out(memoryLine(`daemon with ${PODS} running pods`, withPods) + ratio(withPods));
    record(`RSS with ${PODS} pods`, withPods);
    const perPod = (withPods.rss - base.rss) / PODS;
    const conmons = await conmonPids(daemon, containers);
    const conmonRss = percentile(await Promise.all(conmons.map(async (p) => (await procMemory(p)).rss)), 50);
    const conmonPss = percentile(await Promise.all(conmons.map(pssKiB)), 50);
    out(`  per pod: daemon +${mib(perPod)} MiB, conmon RSS ${mib(conmonRss)} MiB (PSS ${mib(conmonPss)} MiB)`);
    out(`  per pod incl. conmon: +${mib(perPod + conmonRss)} MiB by RSS, +${mib(perPod + conmonPss)} MiB by PSS`);

    if (MANY <= PODS) return;
    // Created (never started) containers are enough for the list: each has its record and conmon.
    const extra = Array.from({ length: MANY - PODS }, (_, i) => i);
    await pool(extra, 4, async (i) => {
      const pod = pods[i % PODS];
      if (!pod) return;
      await rt.createContainer({
        podSandboxId: pod.podSandboxId,
        sandboxConfig: pod.config,
        config: { metadata: { name: `x${i}`, attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], labels: { app: 'many', n: String(i) } },
      });
    });
    for (const line of await measureListContainers(daemon, N)) out(line);
    out(memoryLine(`daemon with ${MANY} containers`, await settledMemory(pid)));
  } finally {
    await daemon.cleanup();
    await registry.stop();
  }
}

runBench(main);
