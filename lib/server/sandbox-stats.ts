import type { PodSandboxStatsRequest, PodSandboxStatsResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import { findSandbox } from './lookup';
import { podStatsOf } from './sandbox-stats-read';

/** PodSandboxStats: the pod's CPU, memory, process and network usage plus its containers' stats. */
export async function podSandboxStats(deps: ServerDeps, _ctx: OpContext, req: PodSandboxStatsRequest): Promise<PodSandboxStatsResponse> {
  return { stats: await podStatsOf(deps, findSandbox(deps, req.podSandboxId)) };
}
