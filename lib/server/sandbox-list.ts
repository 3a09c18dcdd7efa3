import { PodSandboxState, type ListPodSandboxRequest, type ListPodSandboxResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';
import { toCriPodSandbox } from './sandbox-convert';

/** ListPodSandbox: filters by ID prefix, state and label selector. */
export async function listPodSandbox(deps: ServerDeps, _ctx: OpContext, req: ListPodSandboxRequest): Promise<ListPodSandboxResponse> {
  const f = req.filter;
  const items = [];
  for (const record of deps.sandboxes.list()) {
    if (!matchesIdPrefix(record.id, f?.id)) continue;
    const pod = toCriPodSandbox(record);
    if (f?.state && f.state.state !== pod.state && f.state.state !== PodSandboxState.UNRECOGNIZED) continue;
    if (!matchesLabelSelector(record.labels, f?.labelSelector)) continue;
    items.push(pod);
  }
  return { items };
}
