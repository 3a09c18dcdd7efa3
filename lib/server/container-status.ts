import type { ContainerStatusRequest, ContainerStatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { toCriContainerStatus } from './container-convert';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/** ContainerStatus: state, timestamps, exit code and reason, mounts, log path; verbose info. */
export async function containerStatus(deps: ServerDeps, _ctx: OpContext, req: ContainerStatusRequest): Promise<ContainerStatusResponse> {
  const record = findContainer(deps, req.containerId);
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.info = JSON.stringify({
      sandboxID: record.podSandboxId,
      pid: record.pid,
      bundle: record.bundleDir,
      rootfs: record.rootfs,
      config: record.config,
    });
  }
  return { status: toCriContainerStatus(record), info };
}
