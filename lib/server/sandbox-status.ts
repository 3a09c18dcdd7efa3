import type { PodSandboxStatusRequest, PodSandboxStatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { toCriContainerStatus } from './container-convert';
import { podContainers } from './container-events';
import type { ServerDeps } from './deps';
import { findSandbox } from './lookup';
import { toCriPodSandboxStatus } from './sandbox-convert';

/** PodSandboxStatus: state, IPs, namespaces; container statuses for evented PLEG; verbose info. */
export async function podSandboxStatus(deps: ServerDeps, _ctx: OpContext, req: PodSandboxStatusRequest): Promise<PodSandboxStatusResponse> {
  const record = findSandbox(deps, req.podSandboxId);
  const id = record.id;
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.info = JSON.stringify({
      namespaces: record.namespaces,
      podDir: record.podDir,
      cgroupParent: record.cgroupParent,
      hostNetwork: record.hostNetwork,
      config: record.config,
    });
  }
  return {
    status: toCriPodSandboxStatus(record),
    info,
    containersStatuses: podContainers(deps, id).map(toCriContainerStatus),
    timestamp: BigInt(Date.now()) * 1_000_000n,
  };
}
