import type { UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';

/**
 * UpdateRuntimeConfig: accepted and ignored, as CRI-O does — the pod CIDR comes from the CNI
 * configuration in network_dir, not from the kubelet.
 */
export async function updateRuntimeConfig(_deps: ServerDeps, ctx: OpContext, req: UpdateRuntimeConfigRequest): Promise<UpdateRuntimeConfigResponse> {
  ctx.log.debug('runtime config update ignored', { podCidr: req.runtimeConfig?.networkConfig?.podCidr ?? '' });
  return {};
}
