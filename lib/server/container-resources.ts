import type { ContainerConfig, LinuxContainerResources } from '../cri/gen/api';
import { parseSize } from '../config/size';
import { InvalidArgumentError } from '../errors';
import { cgroupLayout } from '../oci/cgroup-layout';
import { checkCpuset } from '../oci/cpuset';
import { clampOomScoreAdj } from '../oci/process-args';
import { parseUlimits } from '../oci/rlimits';
import type { SpecResources, SpecRlimit } from '../oci/spec-input';
import type { SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';

/**
 * Cgroup limits, OOM score and rlimits of a new container (CRI-O's SpecSetLinuxContainerResources):
 * memory at least the handler's container_min_memory, memory+swap = the memory limit when the host
 * accounts swap (so no swap is used unless the kubelet asks), hugetlb and `unified` only where the
 * host has them.
 */

/** CRI-O's container_min_memory when the handler sets none. */
const DEFAULT_MIN_MEMORY = 12 * 1024 * 1024;

/** The smallest memory limit the pod's runtime handler accepts. */
export function minMemoryBytes(deps: ServerDeps, runtimeHandler: string): number {
  const name = runtimeHandler || deps.config.runtime.default_runtime;
  const value = deps.config.runtime.runtimes[name]?.container_min_memory ?? '';
  return value === '' ? DEFAULT_MIN_MEMORY : parseSize(value);
}

/** Checks a memory limit against container_min_memory (0 = no limit). */
export function checkMemoryLimit(deps: ServerDeps, pod: SandboxRecord, limit: number, rpc: string): void {
  if (limit < 0) throw new InvalidArgumentError(`${rpc}: memory limit ${limit} is negative`);
  const min = minMemoryBytes(deps, pod.runtimeHandler);
  if (limit > 0 && limit < min) {
    throw new InvalidArgumentError(`${rpc}: memory limit ${limit} bytes is too low; it must be at least ${min} bytes (container_min_memory)`);
  }
}

/** Refuses cpuset_cpus / cpuset_mems that are no list or name CPUs or memory nodes that are not online; `field` names the resources. */
export async function checkCpusets(field: string, r: Pick<LinuxContainerResources, 'cpusetCpus' | 'cpusetMems'> | undefined): Promise<void> {
  if (r?.cpusetCpus) await checkCpuset(`${field}.cpuset_cpus`, r.cpusetCpus, 'cpus');
  if (r?.cpusetMems) await checkCpuset(`${field}.cpuset_mems`, r.cpusetMems, 'mems');
}

/** The spec's cgroup resources for CRI resources; warnings name what the host cannot apply. */
export async function specResources(r: LinuxContainerResources, warnings: string[]): Promise<SpecResources> {
  const layout = await cgroupLayout();
  const res: SpecResources = {};
  if (r.cpuShares > 0n) res.cpuShares = Number(r.cpuShares);
  if (r.cpuQuota !== 0n) res.cpuQuota = Number(r.cpuQuota);
  if (r.cpuPeriod > 0n) res.cpuPeriod = Number(r.cpuPeriod);
  if (r.cpusetCpus) res.cpusetCpus = r.cpusetCpus;
  if (r.cpusetMems) res.cpusetMems = r.cpusetMems;
  const memory = Number(r.memoryLimitInBytes);
  const swap = Number(r.memorySwapLimitInBytes);
  if (memory > 0) {
    res.memoryLimitBytes = memory;
    if (swap > 0 && swap < memory) throw new InvalidArgumentError(`memory swap limit (${swap}) cannot be lower than the memory limit (${memory})`);
    // Without swap accounting runc cannot set memory+swap at all.
    if (layout.swapAccounting) res.memorySwapLimitBytes = swap !== 0 ? swap : memory;
  }
  if (r.hugepageLimits.length > 0) {
    if (layout.controllers.has('hugetlb')) res.hugepageLimits = r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: Number(h.limit) }));
    else warnings.push('hugepage limits ignored: the host has no hugetlb cgroup controller');
  }
  if (Object.keys(r.unified).length > 0) {
    if (layout.version === 2) res.unified = { ...r.unified };
    else warnings.push('unified cgroup settings ignored: the host uses cgroup v1');
  }
  return res;
}

/** Resources, OOM score adjustment and rlimits of a new container. */
export async function containerResources(
  deps: ServerDeps,
  pod: SandboxRecord,
  config: ContainerConfig,
  warnings: string[],
): Promise<{ resources: SpecResources; oomScoreAdj?: number; rlimits?: SpecRlimit[] }> {
  const r = config.linux?.resources;
  const rlimits = deps.config.runtime.default_ulimits.length > 0 ? parseUlimits(deps.config.runtime.default_ulimits) : undefined;
  const pidsLimit = deps.config.runtime.pids_limit > 0 ? deps.config.runtime.pids_limit : undefined;
  if (!r) return { resources: pidsLimit === undefined ? {} : { pidsLimit }, rlimits };
  checkMemoryLimit(deps, pod, Number(r.memoryLimitInBytes), 'CreateContainer');
  const resources = await specResources(r, warnings);
  if (pidsLimit !== undefined) resources.pidsLimit = pidsLimit;
  let oomScoreAdj: number | undefined;
  if (r.oomScoreAdj !== 0n) {
    const clamped = clampOomScoreAdj(Number(r.oomScoreAdj), deps.host.canLowerOomScoreAdj);
    if (clamped.warning) warnings.push(clamped.warning);
    oomScoreAdj = clamped.value;
  }
  return { resources, oomScoreAdj, rlimits };
}
