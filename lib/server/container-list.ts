import { Container, ContainerState, type ListContainersRequest, type ListContainersResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { isClaimed } from '../state/records';
import { criContainerState, toCriContainer } from './container-convert';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';
import { CachedListEncoding } from './list-encoding';

/** ListContainers, the RPC the kubelet calls most: messages and bytes cached per record (list-encoding.ts). */
const cache = new CachedListEncoding(toCriContainer, (c: Container) => Container.encode(c).finish());

/** ListContainers: filters by ID prefix, pod ID prefix, state and label selector. */
export async function listContainers(deps: ServerDeps, _ctx: OpContext, req: ListContainersRequest): Promise<ListContainersResponse> {
  const f = req.filter;
  const containers = [];
  for (const record of deps.containers.list()) {
    if (!isClaimed(record)) continue;
    if (!matchesIdPrefix(record.id, f?.id)) continue;
    if (!matchesIdPrefix(record.podSandboxId, f?.podSandboxId)) continue;
    if (f?.state && f.state.state !== ContainerState.UNRECOGNIZED && f.state.state !== criContainerState(record)) continue;
    if (!matchesLabelSelector(record.labels, f?.labelSelector)) continue;
    containers.push(cache.message(record));
  }
  return { containers };
}

/** Wire bytes of a ListContainersResponse (field 1 repeated Container), from the cache. */
export function encodeListContainersResponse(res: ListContainersResponse): Buffer {
  return cache.response(res.containers);
}
