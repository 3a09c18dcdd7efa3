import type { ListPodSandboxStatsRequest, ListPodSandboxStatsResponse, PodSandboxStats, PodSandboxStatsFilter } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';
import { podStatsOf } from './sandbox-stats-read';

/** Stats of every pod matching the filter. */
export async function listPodSandboxStatsOf(deps: ServerDeps, f: PodSandboxStatsFilter | undefined): Promise<PodSandboxStats[]> {
  const pods = deps.sandboxes.list().filter((p) => matchesIdPrefix(p.id, f?.id) && matchesLabelSelector(p.labels, f?.labelSelector));
  return Promise.all(pods.map((p) => podStatsOf(deps, p)));
}

/** ListPodSandboxStats: filters by pod ID prefix and label selector. */
export async function listPodSandboxStats(deps: ServerDeps, _ctx: OpContext, req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> {
  return { stats: await listPodSandboxStatsOf(deps, req.filter) };
}
