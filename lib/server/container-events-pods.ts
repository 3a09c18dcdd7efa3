import {
  ContainerEventType,
  type RemovePodSandboxRequest,
  type RemovePodSandboxResponse,
  type RunPodSandboxRequest,
  type RunPodSandboxResponse,
  type StopPodSandboxRequest,
  type StopPodSandboxResponse,
} from '../cri/gen/api';
import type { OpContext } from '../context';
import { emitPodEvent, podContainers } from './container-events';
import type { ServerDeps } from './deps';
import { removePodSandbox } from './sandbox-remove';
import { runPodSandbox } from './sandbox-run';
import { stopPodSandbox } from './sandbox-stop';

/**
 * The pod RPCs wrapped with their lifecycle events (GetContainerEvents), so the pod RPC files
 * stay free of event plumbing; handlers.ts registers these.
 */

/** RunPodSandbox, then the pod's CREATED and STARTED events. */
export async function runPodSandboxWithEvents(deps: ServerDeps, ctx: OpContext, req: RunPodSandboxRequest): Promise<RunPodSandboxResponse> {
  const res = await runPodSandbox(deps, ctx, req);
  const pod = deps.sandboxes.find(res.podSandboxId);
  if (pod) {
    emitPodEvent(deps, pod, ContainerEventType.CONTAINER_CREATED_EVENT, []);
    emitPodEvent(deps, pod, ContainerEventType.CONTAINER_STARTED_EVENT, []);
  }
  return res;
}

/** StopPodSandbox, then the pod's STOPPED event when it was ready before. */
export async function stopPodSandboxWithEvents(deps: ServerDeps, ctx: OpContext, req: StopPodSandboxRequest): Promise<StopPodSandboxResponse> {
  const id = deps.sandboxes.resolveId(req.podSandboxId);
  const wasReady = id !== undefined && deps.sandboxes.find(id)?.state === 'ready';
  const res = await stopPodSandbox(deps, ctx, req);
  const pod = id === undefined ? undefined : deps.sandboxes.find(id);
  if (pod && wasReady) emitPodEvent(deps, pod, ContainerEventType.CONTAINER_STOPPED_EVENT, podContainers(deps, pod.id));
  return res;
}

/** RemovePodSandbox, then the pod's DELETED event (with its last known status). */
export async function removePodSandboxWithEvents(deps: ServerDeps, ctx: OpContext, req: RemovePodSandboxRequest): Promise<RemovePodSandboxResponse> {
  const id = deps.sandboxes.resolveId(req.podSandboxId);
  const before = id === undefined ? undefined : deps.sandboxes.find(id);
  const res = await removePodSandbox(deps, ctx, req);
  if (before && !deps.sandboxes.find(before.id)) emitPodEvent(deps, { ...before, state: 'notready' }, ContainerEventType.CONTAINER_DELETED_EVENT, []);
  return res;
}
