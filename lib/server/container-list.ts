import { ContainerState, type ListContainersRequest, type ListContainersResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { criContainerState, toCriContainer } from './container-convert';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';

/** ListContainers: filters by ID prefix, pod ID prefix, state and label selector. */
export async function listContainers(deps: ServerDeps, _ctx: OpContext, req: ListContainersRequest): Promise<ListContainersResponse> {
  const f = req.filter;
  const containers = [];
  for (const record of deps.containers.list()) {
    if (!matchesIdPrefix(record.id, f?.id)) continue;
    if (!matchesIdPrefix(record.podSandboxId, f?.podSandboxId)) continue;
    if (f?.state && f.state.state !== ContainerState.UNRECOGNIZED && f.state.state !== criContainerState(record)) continue;
    if (!matchesLabelSelector(record.labels, f?.labelSelector)) continue;
    containers.push(toCriContainer(record));
  }
  return { containers };
}
