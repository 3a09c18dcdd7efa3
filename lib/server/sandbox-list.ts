import { PodSandbox, PodSandboxState, type ListPodSandboxRequest, type ListPodSandboxResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';
import { CachedListEncoding } from './list-encoding';
import { toCriPodSandbox } from './sandbox-convert';

/** The kubelet lists pods every second: messages and bytes cached per record (list-encoding.ts). */
const cache = new CachedListEncoding(toCriPodSandbox, (p: PodSandbox) => PodSandbox.encode(p).finish());

/** ListPodSandbox: filters by ID prefix, state and label selector. */
export async function listPodSandbox(deps: ServerDeps, _ctx: OpContext, req: ListPodSandboxRequest): Promise<ListPodSandboxResponse> {
  const f = req.filter;
  const items = [];
  for (const record of deps.sandboxes.list()) {
    if (!matchesIdPrefix(record.id, f?.id)) continue;
    const pod = cache.message(record);
    if (f?.state && f.state.state !== pod.state && f.state.state !== PodSandboxState.UNRECOGNIZED) continue;
    if (!matchesLabelSelector(record.labels, f?.labelSelector)) continue;
    items.push(pod);
  }
  return { items };
}

/** Wire bytes of a ListPodSandboxResponse (field 1 repeated PodSandbox), from the cache. */
export function encodeListPodSandboxResponse(res: ListPodSandboxResponse): Buffer {
  return cache.response(res.items);
}
