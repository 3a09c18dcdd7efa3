import type { ContainerStats, ContainerStatsFilter, ListContainerStatsRequest, ListContainerStatsResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { isClaimed } from '../state/records';
import { containerStatsOf } from './container-stats-read';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';

/** Stats of every container that has not exited and matches the filter (CRI-O skips stopped ones too). */
export async function listContainerStatsOf(deps: ServerDeps, f: ContainerStatsFilter | undefined): Promise<ContainerStats[]> {
  const records = deps.containers
    .list()
    .filter(
      (r) =>
        r.state !== 'exited' &&
        isClaimed(r) &&
        matchesIdPrefix(r.id, f?.id) &&
        matchesIdPrefix(r.podSandboxId, f?.podSandboxId) &&
        matchesLabelSelector(r.labels, f?.labelSelector),
    );
  return Promise.all(records.map((r) => containerStatsOf(deps, r)));
}

/** ListContainerStats: filters by ID prefix, pod ID prefix and label selector. */
export async function listContainerStats(deps: ServerDeps, _ctx: OpContext, req: ListContainerStatsRequest): Promise<ListContainerStatsResponse> {
  return { stats: await listContainerStatsOf(deps, req.filter) };
}
