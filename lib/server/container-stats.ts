import type { ContainerStatsRequest, ContainerStatsResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { containerStatsOf } from './container-stats-read';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/** ContainerStats: CPU, memory, swap and writable-layer usage of one container. */
export async function containerStats(deps: ServerDeps, _ctx: OpContext, req: ContainerStatsRequest): Promise<ContainerStatsResponse> {
  return { stats: await containerStatsOf(deps, findContainer(deps, req.containerId)) };
}
