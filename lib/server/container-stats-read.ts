import type { ContainerStats, CpuUsage, MemoryUsage, PsiStats, SwapUsage, UInt64Value } from '../cri/gen/api';
import type { CgroupStats } from '../oci/cgroup-stats';
import { readCgroupStats } from '../oci/cgroup-stats';
import type { Psi } from '../oci/cgroup-parse';
import { cgroupFsPath, containerCgroupDir, DEFAULT_CGROUPFS_PARENT } from '../oci/cgroup-systemd';
import type { DiskUsage } from '../storage/disk-usage';
import type { ContainerRecord, SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';

/**
 * Container stats as CRI wants them, from the container's cgroup and its writable layer. The
 * cache keeps the previous CPU sample per container/pod (usage_nano_cores is a rate between two
 * samples, as in CRI-O's stats server) and writable-layer sizes for a short while (walking every
 * upper dir on each kubelet poll would cost more than it tells).
 */

/** How long a writable-layer size is reused. */
const DISK_USAGE_TTL_MS = 5_000;

/** Per-object state kept between stats calls. */
export class StatsCache {
  private readonly cpu = new Map<string, { timestampNs: bigint; usageNs: bigint }>();
  private readonly disk = new Map<string, { at: number; usage: DiskUsage }>();

  /** CPU rate since the previous sample of `key` (undefined on the first one); remembers this sample. */
  nanoCores(key: string, timestampNs: bigint, usageNs: bigint): bigint | undefined {
    const prev = this.cpu.get(key);
    this.cpu.set(key, { timestampNs, usageNs });
    if (!prev || timestampNs <= prev.timestampNs || usageNs < prev.usageNs) return undefined;
    return ((usageNs - prev.usageNs) * 1_000_000_000n) / (timestampNs - prev.timestampNs);
  }

  /** The writable-layer size of a container, measured at most every few seconds. */
  async diskUsage(id: string, measure: () => Promise<DiskUsage>): Promise<DiskUsage> {
    const hit = this.disk.get(id);
    if (hit && Date.now() - hit.at < DISK_USAGE_TTL_MS) return hit.usage;
    const usage = await measure();
    this.disk.set(id, { at: Date.now(), usage });
    return usage;
  }

  /** Forgets an object (container removed). */
  forget(key: string): void {
    this.cpu.delete(key);
    this.disk.delete(key);
  }
}

/** A CRI UInt64Value. */
export function u64(value: bigint | number): UInt64Value {
  return { value: typeof value === 'bigint' ? value : BigInt(Math.max(0, Math.trunc(value))) };
}

function psiStats(psi: Psi | undefined): PsiStats | undefined {
  if (!psi) return undefined;
  const data = (l: Psi['some']) => (l ? { Total: l.total, Avg10: l.avg10, Avg60: l.avg60, Avg300: l.avg300 } : undefined);
  return { Some: data(psi.some), Full: data(psi.full) };
}

/** CRI CPU usage of a cgroup sample; usage_nano_cores from the previous sample of `key`. */
export function criCpu(cache: StatsCache, key: string, s: CgroupStats): CpuUsage | undefined {
  if (!s.cpu) return undefined;
  const rate = cache.nanoCores(key, s.timestampNs, s.cpu.usageNs);
  return {
    timestamp: s.timestampNs,
    usageCoreNanoSeconds: u64(s.cpu.usageNs),
    usageNanoCores: rate === undefined ? undefined : u64(rate),
    psi: psiStats(s.cpu.psi),
  };
}

/** CRI memory usage of a cgroup sample (available = limit − working set when limited). */
export function criMemory(s: CgroupStats): MemoryUsage | undefined {
  const m = s.memory;
  if (!m) return undefined;
  return {
    timestamp: s.timestampNs,
    workingSetBytes: u64(m.workingSet),
    availableBytes: m.limit === undefined ? undefined : u64(m.limit > m.workingSet ? m.limit - m.workingSet : 0n),
    usageBytes: u64(m.usage),
    rssBytes: u64(m.rss),
    pageFaults: u64(m.pageFaults),
    majorPageFaults: u64(m.majorPageFaults),
    psi: psiStats(m.psi),
  };
}

function criSwap(s: CgroupStats): SwapUsage | undefined {
  const m = s.memory;
  if (!m || m.swapUsage === undefined) return undefined;
  return {
    timestamp: s.timestampNs,
    swapUsageBytes: u64(m.swapUsage),
    swapAvailableBytes: m.swapLimit === undefined ? undefined : u64(m.swapLimit > m.swapUsage ? m.swapLimit - m.swapUsage : 0n),
  };
}

/** The cgroup directory of a container below each hierarchy's root, for either driver (older records did not store its cgroupsPath). */
export function containerCgroup(record: ContainerRecord, pod: SandboxRecord | undefined): string {
  return record.cgroupsPath !== undefined ? cgroupFsPath(record.cgroupsPath) : containerCgroupDir(pod?.cgroupParent ?? DEFAULT_CGROUPFS_PARENT, record.id);
}

/** A container's raw cgroup sample (undefined when its cgroup is gone). */
export async function containerCgroupStats(deps: ServerDeps, record: ContainerRecord): Promise<CgroupStats | undefined> {
  return readCgroupStats(containerCgroup(record, deps.sandboxes.find(record.podSandboxId)));
}

/** Full CRI stats of one container; cgroup parts are missing when the cgroup is gone. */
export async function containerStatsOf(deps: ServerDeps, record: ContainerRecord, sample?: CgroupStats): Promise<ContainerStats> {
  const s = sample ?? (await containerCgroupStats(deps, record));
  const attributes = { id: record.id, metadata: record.metadata, labels: record.labels, annotations: record.annotations };
  const timestamp = s?.timestampNs ?? BigInt(Date.now()) * 1_000_000n;
  const disk = deps.containerLayers.get(record.id)
    ? await deps.statsCache.diskUsage(record.id, () => deps.containerLayers.usage(record.id)).catch(() => undefined)
    : undefined;
  return {
    attributes,
    cpu: s && criCpu(deps.statsCache, record.id, s),
    memory: s && criMemory(s),
    writableLayer: disk && { timestamp, fsId: { mountpoint: record.rootfs }, usedBytes: u64(disk.bytes), inodesUsed: u64(disk.inodes) },
    swap: s && criSwap(s),
    io: s?.io?.psi ? { timestamp, psi: psiStats(s.io.psi) } : undefined,
  };
}
