import { CgroupDriver, type RuntimeConfigRequest, type RuntimeConfigResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';

/** RuntimeConfig: tells the kubelet which cgroup driver to use (KEP-4033). */
export async function runtimeConfig(deps: ServerDeps, _ctx: OpContext, _req: RuntimeConfigRequest): Promise<RuntimeConfigResponse> {
  const driver = deps.config.runtime.cgroup_manager === 'systemd' ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS;
  return { linux: { cgroupDriver: driver } };
}
