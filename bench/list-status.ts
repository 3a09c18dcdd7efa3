import { Client, credentials, Metadata, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import { ContainerStatusRequest, PodSandboxStatusRequest } from '../lib/cri/gen/api';
import type { TestDaemon } from '../test/harness/daemon';
import { removeAllPods, startBenchDaemon, startSleepPods, type SleepPod } from './bench-daemon';
import { measureListContainers } from './list-containers';
import { cpuMs, daemonPid } from './proc-memory';
import { paired, percentile, result, runBench } from './stats';

/**
 * List/Status calls against their floor, the round trip of an RPC that does no work (Version) on
 * the same connection (issue 17: within 0.2 ms of it with 30 pods, within 1 ms with 500). Each
 * round times Version and the RPC back to back (order alternating), so the machine's noise hits
 * both; printed are both p50s and the median of the per-round differences.
 *
 * Clients, all on one connection each:
 *  - lean: raw grpc-js, response bytes not decoded (server + transport: what a Go client waits
 *    for before its own fast decode), `:authority` localhost (grpc-js, gRPC-Go of kubelet ≥ 1.27);
 *  - lean, socket path as `:authority` (kubelet/crictl ≤ 1.26: the daemon rewrites their headers);
 *  - the project's client (ts-proto decoding included, which is client work).
 * Then the daemon's CPU per call (from /proc, where other load does not count) for each RPC and
 * Version. With `pods` networked pods first, then with `many` (the rest host-network), each pod
 * running one container; at `many`, ListContainers is also taken apart (list-containers.ts).
 * Usage: node build/bench/list-status.js [pods=30] [many=500] [rounds=300]
 */

const PODS = Number(process.argv[2] ?? 30);
const MANY = Number(process.argv[3] ?? 500);
const N = Number(process.argv[4] ?? 300);
const NET_INDEX = 174;
const RPC = '/runtime.v1.RuntimeService';

function rawCall(client: Client, method: string, request: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `${RPC}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(request),
      new Metadata(),
      // As the kubelet: every CRI call has a deadline (2 min), so the server sees grpc-timeout.
      { deadline: Date.now() + 120_000 },
      (err: ServiceError | null, res?: Buffer) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)),
    );
  });
}

type Call = (i: number) => Promise<unknown>;

interface Target {
  name: string;
  call: Call;
}

/** The four RPCs through a lean client (bytes only). */
function leanTargets(client: Client, pods: SleepPod[]): Target[] {
  const empty = new Uint8Array(0);
  const statusReqs = pods.map((p) => ContainerStatusRequest.encode(ContainerStatusRequest.fromPartial({ containerId: p.containerId })).finish());
  const podReqs = pods.map((p) => PodSandboxStatusRequest.encode(PodSandboxStatusRequest.fromPartial({ podSandboxId: p.podSandboxId })).finish());
  return [
    { name: 'ListContainers', call: () => rawCall(client, 'ListContainers', empty) },
    { name: 'ListPodSandbox', call: () => rawCall(client, 'ListPodSandbox', empty) },
    { name: 'ContainerStatus', call: (i) => rawCall(client, 'ContainerStatus', statusReqs[i % statusReqs.length] ?? empty) },
    { name: 'PodSandboxStatus', call: (i) => rawCall(client, 'PodSandboxStatus', podReqs[i % podReqs.length] ?? empty) },
  ];
}

function projectTargets(daemon: TestDaemon, pods: SleepPod[]): Target[] {
  const rt = daemon.cri.runtime;
  return [
    { name: 'ListContainers', call: () => rt.listContainers({}) },
    { name: 'ListPodSandbox', call: () => rt.listPodSandbox({}) },
    { name: 'ContainerStatus', call: (i) => rt.containerStatus({ containerId: pods[i % pods.length]?.containerId ?? '' }) },
    { name: 'PodSandboxStatus', call: (i) => rt.podSandboxStatus({ podSandboxId: pods[i % pods.length]?.podSandboxId ?? '' }) },
  ];
}

const f2 = (ms: number): string => ms.toFixed(2).padStart(6);

async function compare(label: string, version: Call, targets: Target[], limitMs: number, out: (l: string) => void): Promise<void> {
  for (const t of targets) {
    const p = await paired(N, version, t.call);
    const diff = percentile(p.diff, 50);
    const ok = diff <= limitMs ? 'ok' : 'OVER';
    out(
      `  ${`${t.name}, ${label}`.padEnd(58)} Version p50 ${f2(percentile(p.floor, 50))}  RPC p50 ${f2(percentile(p.value, 50))}  Δ median ${f2(diff)} ms (≤ ${limitMs}: ${ok})`,
    );
    out(result({ name: `${t.name} ${label}`, value: percentile(p.value, 50), floor: percentile(p.floor, 50), diff, unit: 'ms' }));
  }
}

/** Daemon CPU ms per call over `n` calls of each target and of Version. */
async function cpuPerCall(pid: number, version: Call, targets: Target[], out: (l: string) => void, label: string): Promise<void> {
  const n = Math.max(N, 500);
  const per = async (fn: Call): Promise<number> => {
    const before = await cpuMs(pid);
    for (let i = 0; i < n; i++) await fn(i);
    return ((await cpuMs(pid)) - before) / n;
  };
  const v = await per(version);
  const parts = [`Version ${(v * 1000).toFixed(0)}`];
  for (const t of targets) {
    const c = await per(t.call);
    parts.push(`${t.name} ${(c * 1000).toFixed(0)}`);
    out(result({ name: `daemon CPU ${t.name} ${label}`, value: c * 1000, floor: v * 1000, diff: (c - v) * 1000, unit: 'µs' }));
  }
  out(`  daemon CPU µs per call (${label}, n=${n} each): ${parts.join(', ')}`);
}

async function measure(daemon: TestDaemon, pods: SleepPod[], limitMs: number, out: (l: string) => void): Promise<void> {
  const label = `${pods.length} pods`;
  const options: [string, ChannelOptions][] = [
    ['lean', { 'grpc-node.flow_control_window': 16 << 20, 'grpc.max_receive_message_length': -1 }],
    ['lean, socket-path authority', { 'grpc-node.flow_control_window': 16 << 20, 'grpc.max_receive_message_length': -1, 'grpc.default_authority': daemon.socket }],
  ];
  out(`with ${label} (${pods.length} containers):`);
  for (const [kind, opts] of options) {
    const client = new Client(`unix://${daemon.socket}`, credentials.createInsecure(), opts);
    try {
      const version: Call = () => rawCall(client, 'Version', new Uint8Array(0));
      await compare(`${label}, ${kind}`, version, leanTargets(client, pods), limitMs, out);
      if (kind === 'lean') await cpuPerCall(await daemonPid(daemon), version, leanTargets(client, pods), out, label);
    } finally {
      client.close();
    }
  }
  const rt = daemon.cri.runtime;
  await compare(`${label}, project client (decoded)`, () => rt.version({}), projectTargets(daemon, pods), limitMs, out);
}

async function main(): Promise<void> {
  const out = (l: string): void => void process.stdout.write(l + '\n');
  const { registry, daemon } = await startBenchDaemon(NET_INDEX);
  try {
    await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
    const pods = await startSleepPods(daemon, PODS, { concurrency: 2 });
    await measure(daemon, pods, 0.2, out);
    if (MANY > PODS) {
      const more = await startSleepPods(daemon, MANY - PODS, { prefix: 'many', hostNetwork: true, concurrency: 3 });
      await measure(daemon, [...pods, ...more], 1, out);
      for (const l of await measureListContainers(daemon, N)) out(l);
    }
  } finally {
    await removeAllPods(daemon).catch(() => undefined);
    await daemon.cleanup();
    await registry.stop();
  }
}

runBench(main);
