import type { ContainerMetrics, ListPodSandboxMetricsRequest, ListPodSandboxMetricsResponse, Metric, PodSandboxMetrics } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { CgroupStats } from '../oci/cgroup-stats';
import type { ContainerRecord, SandboxRecord } from '../state/records';
import { containerConfig } from './container-convert';
import { containerCgroupStats, u64 } from './container-stats-read';
import type { ServerDeps } from './deps';
import { CONTAINER_METRICS as C, POD_METRICS as P, type MetricDef } from './metric-descriptors';
import { podNetworkCounters } from './sandbox-stats-read';

/** ListPodSandboxMetrics: cAdvisor-style metrics of every pod and its running containers. */

const SECOND_NS = 1_000_000_000n;

function metric(def: MetricDef, labels: string[], value: bigint | number, timestamp: bigint): Metric {
  return { name: def.descriptor.name, timestamp, metricType: def.type, labelValues: labels, value: u64(value) };
}

function containerValues(record: ContainerRecord, s: CgroupStats | undefined): [MetricDef, bigint | number, string[]?][] {
  const out: [MetricDef, bigint | number, string[]?][] = [[C.lastSeen, BigInt(Date.now()) / 1000n]];
  const r = containerConfig(record).linux?.resources;
  out.push([C.specCpuPeriod, r?.cpuPeriod ?? 0n], [C.specCpuShares, r?.cpuShares ?? 0n], [C.specCpuQuota, r?.cpuQuota && r.cpuQuota > 0n ? r.cpuQuota : 0n]);
  out.push([C.specMemoryLimit, r?.memoryLimitInBytes ?? 0n], [C.startTime, BigInt(record.startedAtNs) / SECOND_NS]);
  if (s?.cpu) {
    out.push(
      [C.cpuUser, s.cpu.userNs / SECOND_NS],
      [C.cpuSystem, s.cpu.systemNs / SECOND_NS],
      [C.cpuUsage, s.cpu.usageNs / SECOND_NS, ['total']],
      [C.cfsPeriods, s.cpu.periods],
      [C.cfsThrottledPeriods, s.cpu.throttledPeriods],
      [C.cfsThrottledSeconds, s.cpu.throttledNs / SECOND_NS],
    );
  }
  const m = s?.memory;
  if (m) {
    out.push(
      [C.memoryCache, m.cache],
      [C.memoryRss, m.rss],
      [C.memoryMappedFile, m.mappedFile],
      [C.memorySwap, m.swapUsage ?? 0n],
      [C.memoryFailcnt, m.failcnt],
      [C.memoryUsage, m.usage],
      [C.memoryMaxUsage, m.maxUsage ?? m.usage],
      [C.memoryWorkingSet, m.workingSet],
      [C.oomEvents, m.oomKills],
    );
  }
  if (s?.pids) out.push([C.processes, s.pids.current]);
  return out;
}

async function containerMetrics(deps: ServerDeps, pod: SandboxRecord, record: ContainerRecord): Promise<ContainerMetrics> {
  const sample = await containerCgroupStats(deps, record);
  const timestamp = sample?.timestampNs ?? BigInt(Date.now()) * 1_000_000n;
  const labels = [record.id, record.image.requested, pod.metadata.namespace, pod.metadata.name, record.metadata.name];
  return {
    containerId: record.id,
    metrics: containerValues(record, sample).map(([def, value, extra]) => metric(def, [...labels, ...(extra ?? [])], value, timestamp)),
  };
}

async function podMetrics(deps: ServerDeps, pod: SandboxRecord): Promise<PodSandboxMetrics> {
  const timestamp = BigInt(Date.now()) * 1_000_000n;
  const labels = [pod.id, '', pod.metadata.namespace, pod.metadata.name, 'POD'];
  const counters = (await podNetworkCounters(deps, pod)) ?? [];
  const metrics = counters
    .filter((c) => c.name !== 'lo')
    .flatMap((c) =>
      (
        [
          [P.rxBytes, c.rxBytes],
          [P.rxPackets, c.rxPackets],
          [P.rxDropped, c.rxDropped],
          [P.rxErrors, c.rxErrors],
          [P.txBytes, c.txBytes],
          [P.txPackets, c.txPackets],
          [P.txDropped, c.txDropped],
          [P.txErrors, c.txErrors],
        ] as const
      ).map(([def, value]) => metric(def, [...labels, c.name], value, timestamp)),
    );
  const records = deps.containers.list().filter((c) => c.podSandboxId === pod.id && c.state !== 'exited');
  return { podSandboxId: pod.id, metrics, containerMetrics: await Promise.all(records.map((r) => containerMetrics(deps, pod, r))) };
}

/** Metrics of every pod. */
export async function allPodMetrics(deps: ServerDeps): Promise<PodSandboxMetrics[]> {
  return Promise.all(deps.sandboxes.list().map((p) => podMetrics(deps, p)));
}

/** ListPodSandboxMetrics. */
export async function listPodSandboxMetrics(deps: ServerDeps, _ctx: OpContext, _req: ListPodSandboxMetricsRequest): Promise<ListPodSandboxMetricsResponse> {
  return { podMetrics: await allPodMetrics(deps) };
}
