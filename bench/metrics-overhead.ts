import { COLLECTORS } from '../lib/metrics/collectors';
import { PrometheusMetrics } from '../lib/metrics/prometheus';
import { NO_METRICS, type MetricsRecorder } from '../lib/metrics/recorder';
import { promises as fs } from 'node:fs';
import { benchPodConfig, startBenchDaemon, startBenchPod } from './bench-daemon';
import { daemonPid } from './proc-memory';
import { percentile, row, runBench, sample, timeMs } from './stats';

/**
 * What the metrics cost on the paths that matter: one recorded operation (the RPC boundary's
 * call) with prom-client against the no-op recorder; then, on a daemon with enable_metrics off
 * and on, the daemon's own CPU time (from /proc, so other load on the machine does not count)
 * for Version calls, for pod starts (RunPodSandbox + CreateContainer + StartContainer) and for
 * 30 s of idling, with wall-clock p50s beside them.
 * Usage: node build/bench/metrics-overhead.js [pod starts=15]
 */

const PODS = Number(process.argv[2] ?? 15);
const NET_INDEX = 172;

function perCallNs(m: MetricsRecorder, n: number): number {
  const ops = ['Version', 'ListContainers', 'ContainerStatus', 'ListPodSandbox'];
  for (let i = 0; i < 10_000; i++) m.operation(ops[i & 3] ?? 'Version', 0.001, false);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) m.operation(ops[i & 3] ?? 'Version', 0.001, (i & 15) === 0);
  return Number(process.hrtime.bigint() - t0) / n;
}

/** utime + stime of a process in ms (clock ticks of 10 ms). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface Figures {
  version: number[];
  podStart: number[];
  cpuPerVersionMs: number;
  cpuPerPodMs: number;
  idleCpuMs: number;
}

async function daemonFigures(label: string, dropIn: string, out: (l: string) => void): Promise<Figures> {
  const { registry, daemon } = await startBenchDaemon(NET_INDEX, dropIn);
  try {
    const rt = daemon.cri.runtime;
    const pid = await daemonPid(daemon);
    await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
    let c0 = await cpuMs(pid);
    const version = await sample(2000, () => rt.version({}));
    const cpuPerVersionMs = ((await cpuMs(pid)) - c0) / 2005;
    c0 = await cpuMs(pid);
    const podStart: number[] = [];
    for (let i = 0; i < PODS; i++) {
      let podSandboxId = '';
      podStart.push(
        await timeMs(async () => {
          ({ podSandboxId } = await startBenchPod(daemon, benchPodConfig(daemon, `mo-${i}`)));
        }),
      );
      await rt.stopPodSandbox({ podSandboxId });
      await rt.removePodSandbox({ podSandboxId });
    }
    // Pod stop and removal are in the CPU figure too: the metrics' share shows either way.
    const cpuPerPodMs = ((await cpuMs(pid)) - c0) / PODS;
    c0 = await cpuMs(pid);
    await new Promise((r) => setTimeout(r, 30_000));
    const idleCpuMs = (await cpuMs(pid)) - c0;
    out(`${row(`${label}: Version`, version)}   daemon CPU ${(cpuPerVersionMs * 1000).toFixed(0)} µs/call`);
    out(`${row(`${label}: pod start`, podStart)}   daemon CPU ${cpuPerPodMs.toFixed(1)} ms/pod (incl. stop+remove)`);
    out(`${label}: idle 30 s: daemon CPU ${idleCpuMs} ms`);
    return { version, podStart, cpuPerVersionMs, cpuPerPodMs, idleCpuMs };
  } finally {
    await daemon.cleanup();
    await registry.stop();
  }
}

async function main(): Promise<void> {
  const out = (line: string) => process.stdout.write(line + '\n');
  const n = 1_000_000;
  const noop = perCallNs(NO_METRICS, n);
  const prom = perCallNs(new PrometheusMetrics(new Set(COLLECTORS)), n);
  out(`operation() per call: no-op ${noop.toFixed(0)} ns, prom-client ${prom.toFixed(0)} ns (${(prom / Math.max(noop, 1)).toFixed(1)}× the floor)`);
  const off = await daemonFigures('metrics off', '', out);
  const on = await daemonFigures('metrics on ', '[crio.metrics]\nenable_metrics = true\nmetrics_port = 0\n', out);
  const ratio = (a: number[], b: number[]) => (percentile(b, 50) / percentile(a, 50)).toFixed(2);
  out(`ratio on/off: daemon CPU per Version ${(on.cpuPerVersionMs / off.cpuPerVersionMs).toFixed(2)}×, per pod ${(on.cpuPerPodMs / off.cpuPerPodMs).toFixed(2)}×; wall p50 Version ${ratio(off.version, on.version)}×, pod start ${ratio(off.podStart, on.podStart)}×`);
}

runBench(main);
