import { promises as fs } from 'node:fs';
import type { NetworkInterfaceUsage, NetworkUsage, PodSandboxStats } from '../cri/gen/api';
import { parseNetDev, type NetDevCounters } from '../oci/cgroup-parse';
import { readCgroupStats, type CgroupStats } from '../oci/cgroup-stats';
import { cgroupParentPath, containerCgroupDir } from '../oci/cgroup-systemd';
import { pidAlive } from '../oci/pids';
import { runProgram } from '../process';
import { readKernelFile } from '../procfs';
import type { SandboxRecord } from '../state/records';
import { containerCgroupStats, containerStatsOf, criCpu, criMemory, u64 } from './container-stats-read';
import type { ServerDeps } from './deps';

/**
 * Pod stats: the pod cgroup (or, when pods share one cgroup parent because the kubelet gave none,
 * the sum of the pod's containers), network counters read inside the pod's network namespace, and
 * the stats of every container that has not exited.
 */

/** The interface CNI plugins create in the pod (CNI_IFNAME). */
const DEFAULT_INTERFACE = 'eth0';

async function inode(p: string): Promise<bigint | undefined> {
  return fs.stat(p, { bigint: true }).then(
    (st) => st.ino,
    () => undefined,
  );
}

/** /proc/net/dev as seen inside the pod: through a pod process when one runs, else nsenter. */
async function podNetDev(deps: ServerDeps, pod: SandboxRecord): Promise<NetDevCounters[] | undefined> {
  if (pod.hostNetwork) return parseNetDev(await readKernelFile('/proc/self/net/dev'));
  const netns = pod.namespaces.net;
  if (!netns) return undefined;
  const want = await inode(netns);
  if (want === undefined) return undefined;
  const pids = [
    pod.infra?.pid,
    ...deps.containers
      .list()
      .filter((c) => c.podSandboxId === pod.id && c.state === 'running')
      .map((c) => c.pid),
  ];
  for (const pid of pids) {
    // The netns inode check guards against a reused PID that now belongs to someone else.
    if (pid === undefined || pid <= 0 || !(await pidAlive(pid)) || (await inode(`/proc/${pid}/ns/net`)) !== want) continue;
    const text = await readKernelFile(`/proc/${pid}/net/dev`).catch(() => undefined);
    if (text !== undefined) return parseNetDev(text);
  }
  const out = await runProgram('nsenter', [`--net=${netns}`, 'cat', '/proc/net/dev'], { timeoutMs: 5_000 });
  return out.exitCode === 0 ? parseNetDev(out.stdout.toString('utf8')) : undefined;
}

function toInterface(c: NetDevCounters): NetworkInterfaceUsage {
  return { name: c.name, rxBytes: u64(c.rxBytes), rxErrors: u64(c.rxErrors), txBytes: u64(c.txBytes), txErrors: u64(c.txErrors) };
}

/** CRI network usage from /proc/net/dev counters (loopback left out). */
export function networkUsage(counters: NetDevCounters[], timestampNs: bigint): NetworkUsage {
  const real = counters.filter((c) => c.name !== 'lo');
  const def = real.find((c) => c.name === DEFAULT_INTERFACE) ?? real[0];
  return { timestamp: timestampNs, defaultInterface: def && toInterface(def), interfaces: real.map(toInterface) };
}

/** The pod's network counters, or undefined when they cannot be read (pod stopped). */
export async function podNetworkCounters(deps: ServerDeps, pod: SandboxRecord): Promise<NetDevCounters[] | undefined> {
  if (pod.state !== 'ready') return undefined;
  return podNetDev(deps, pod).catch(() => undefined);
}

const add = (a: bigint | undefined, b: bigint | undefined): bigint => (a ?? 0n) + (b ?? 0n);

/** Sums container samples into one pod sample (for pods without a cgroup of their own). */
export function sumSamples(samples: CgroupStats[], timestampNs: bigint): CgroupStats {
  const out: CgroupStats = { timestampNs };
  for (const s of samples) {
    if (s.cpu) {
      const c = out.cpu ?? { usageNs: 0n, userNs: 0n, systemNs: 0n, periods: 0n, throttledPeriods: 0n, throttledNs: 0n };
      out.cpu = { ...c, usageNs: c.usageNs + s.cpu.usageNs, userNs: c.userNs + s.cpu.userNs, systemNs: c.systemNs + s.cpu.systemNs };
    }
    if (s.memory) {
      const m = out.memory;
      out.memory = {
        usage: add(m?.usage, s.memory.usage),
        workingSet: add(m?.workingSet, s.memory.workingSet),
        rss: add(m?.rss, s.memory.rss),
        cache: add(m?.cache, s.memory.cache),
        mappedFile: add(m?.mappedFile, s.memory.mappedFile),
        pageFaults: add(m?.pageFaults, s.memory.pageFaults),
        majorPageFaults: add(m?.majorPageFaults, s.memory.majorPageFaults),
        failcnt: add(m?.failcnt, s.memory.failcnt),
        oomKills: add(m?.oomKills, s.memory.oomKills),
      };
    }
    if (s.pids) out.pids = { current: add(out.pids?.current, s.pids.current) };
  }
  return out;
}

/** The pod's own cgroup sample, or the sum of its containers' when its cgroup parent is shared. */
export async function podCgroupStats(deps: ServerDeps, pod: SandboxRecord, containerSamples: CgroupStats[]): Promise<CgroupStats | undefined> {
  const shared = deps.sandboxes.list().some((p) => p.id !== pod.id && p.cgroupParent === pod.cgroupParent);
  if (!shared) {
    const own = await readCgroupStats(cgroupParentPath(pod.cgroupParent));
    if (own) return own;
  }
  const infra = pod.infra ? await readCgroupStats(containerCgroupDir(pod.cgroupParent, pod.id)) : undefined;
  const samples = infra ? [...containerSamples, infra] : containerSamples;
  return samples.length === 0 ? undefined : sumSamples(samples, BigInt(Date.now()) * 1_000_000n);
}

/** Full CRI stats of one pod. */
export async function podStatsOf(deps: ServerDeps, pod: SandboxRecord): Promise<PodSandboxStats> {
  const records = deps.containers.list().filter((c) => c.podSandboxId === pod.id && c.state !== 'exited');
  const samples = await Promise.all(records.map((r) => containerCgroupStats(deps, r)));
  const [podSample, counters, containers] = await Promise.all([
    podCgroupStats(
      deps,
      pod,
      samples.filter((s): s is CgroupStats => s !== undefined),
    ),
    podNetworkCounters(deps, pod),
    Promise.all(records.map((r, i) => containerStatsOf(deps, r, samples[i]))),
  ]);
  const timestamp = podSample?.timestampNs ?? BigInt(Date.now()) * 1_000_000n;
  return {
    attributes: { id: pod.id, metadata: pod.metadata, labels: pod.labels, annotations: pod.annotations },
    linux: {
      cpu: podSample && criCpu(deps.statsCache, `pod:${pod.id}`, podSample),
      memory: podSample && criMemory(podSample),
      network: counters && networkUsage(counters, timestamp),
      process: podSample?.pids ? { timestamp, processCount: u64(podSample.pids.current) } : undefined,
      containers,
      io: undefined,
    },
    windows: undefined,
  };
}
