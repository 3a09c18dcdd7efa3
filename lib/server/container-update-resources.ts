import { ContainerConfig, LinuxContainerResources, type UpdateContainerResourcesRequest, type UpdateContainerResourcesResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import { readMemoryUsage } from '../oci/cgroup-stats';
import { cgroupResources } from '../oci/spec';
import { containerConfig } from './container-convert';
import { checkCpusets, checkMemoryLimit, specResources } from './container-resources';
import { containerCgroup } from './container-stats-read';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/**
 * The resources in effect after an update: fields the request sets replace the old ones, the rest
 * stay. OOM score adjustment and hugepages are not updated (CRI-O does not apply them either).
 */
export function mergeResources(old: LinuxContainerResources | undefined, req: LinuxContainerResources): LinuxContainerResources {
  const base = old ?? LinuxContainerResources.fromPartial({});
  return {
    ...base,
    cpuPeriod: req.cpuPeriod !== 0n ? req.cpuPeriod : base.cpuPeriod,
    cpuQuota: req.cpuQuota !== 0n ? req.cpuQuota : base.cpuQuota,
    cpuShares: req.cpuShares !== 0n ? req.cpuShares : base.cpuShares,
    memoryLimitInBytes: req.memoryLimitInBytes !== 0n ? req.memoryLimitInBytes : base.memoryLimitInBytes,
    memorySwapLimitInBytes: req.memorySwapLimitInBytes !== 0n ? req.memorySwapLimitInBytes : base.memorySwapLimitInBytes,
    cpusetCpus: req.cpusetCpus || base.cpusetCpus,
    cpusetMems: req.cpusetMems || base.cpusetMems,
    unified: Object.keys(req.unified).length > 0 ? { ...base.unified, ...req.unified } : base.unified,
  };
}

/**
 * UpdateContainerResources: applies cpu shares/quota/period, cpuset and memory (plus memory+swap
 * where swap is accounted, and cgroup v2 `unified`) with `runc update`. Lowering the memory limit
 * below what the container uses now is refused and the old limit stays, as in CRI-O.
 */
export async function updateContainerResources(
  deps: ServerDeps,
  ctx: OpContext,
  req: UpdateContainerResourcesRequest,
): Promise<UpdateContainerResourcesResponse> {
  const record = findContainer(deps, req.containerId);
  if (record.state !== 'running' && record.state !== 'created') {
    throw new FailedPreconditionError(`UpdateContainerResources: container ${record.id} is ${record.state}; only created or running containers can be updated`);
  }
  const r = req.linux;
  if (!r) return {};
  await checkCpusets('UpdateContainerResources: linux', r);
  const pod = deps.sandboxes.get(record.podSandboxId);
  const log = withLogFields(ctx, { containerId: record.id, podSandboxId: pod.id }).log;
  const config = containerConfig(record);
  const memory = Number(r.memoryLimitInBytes);
  checkMemoryLimit(deps, pod, memory, 'UpdateContainerResources');
  if (memory > 0) {
    const usage = await readMemoryUsage(containerCgroup(record, pod));
    if (usage !== undefined && BigInt(memory) < usage) {
      const current = config.linux?.resources?.memoryLimitInBytes ?? 0n;
      throw new FailedPreconditionError(
        `UpdateContainerResources: cannot decrease the memory limit of container ${record.id} to ${memory} bytes: current usage is ${usage} bytes; ` +
          `the limit stays at ${current > 0n ? `${current} bytes` : 'unlimited'}`,
      );
    }
  }
  const warnings: string[] = [];
  const resources = cgroupResources(await specResources(LinuxContainerResources.fromPartial({ ...r, hugepageLimits: [] }), warnings));
  for (const w of warnings) log.warn('resource update adjusted', { warning: w });
  await deps.runtimeFor(pod.runtimeHandler).updateResources(record.id, resources);
  const merged = mergeResources(config.linux?.resources, r);
  await deps.containers.update(record.id, (cur) => {
    const cfg = containerConfig(cur);
    const linux = { resources: merged, securityContext: cfg.linux?.securityContext };
    return { ...cur, config: ContainerConfig.toJSON({ ...cfg, linux }) };
  });
  log.info('container resources updated', { resources: LinuxContainerResources.toJSON(merged) });
  return {};
}
