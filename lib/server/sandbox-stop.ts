import type { StopPodSandboxRequest, StopPodSandboxResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { removePodNamespaces } from '../network/namespaces';
import type { ServerDeps } from './deps';
import { stopContainerRecord } from './container-ops';
import { stopInfraContainer } from './sandbox-infra';
import { unmountPodShm } from './sandbox-shm';

/** How long containers get to stop when the pod is stopped without a deadline (CRI-O: 10 s). */
const POD_STOP_TIMEOUT_SEC = 10;

/**
 * StopPodSandbox: stops every container, tears down the network (CNI DEL), unmounts /dev/shm,
 * removes the pinned namespaces. Idempotent; an unknown ID succeeds, as the kubelet expects.
 */
export async function stopPodSandbox(deps: ServerDeps, ctx: OpContext, req: StopPodSandboxRequest): Promise<StopPodSandboxResponse> {
  const id = deps.sandboxes.resolveId(req.podSandboxId);
  if (id === undefined) {
    ctx.log.info('stop of unknown pod sandbox ignored', { podSandboxId: req.podSandboxId });
    return {};
  }
  const log = withLogFields(ctx, { podSandboxId: id }).log;
  const record = deps.sandboxes.get(id);
  const containers = deps.containers.list().filter((c) => c.podSandboxId === id);
  await Promise.all(containers.map((c) => stopContainerRecord(deps, c, POD_STOP_TIMEOUT_SEC, log)));
  // The pause process goes last: the containers share its PID namespace.
  await stopInfraContainer(deps, record);
  if (record.networkReady) {
    await deps.cni.tearDownPod(
      { podSandboxId: id, name: record.metadata.name, namespace: record.metadata.namespace, uid: record.metadata.uid, netnsPath: record.namespaces.net ?? '' },
      { log, signal: new AbortController().signal },
    );
  }
  if (record.shmPath && record.shmPath !== '/dev/shm') await unmountPodShm(record.shmPath);
  await removePodNamespaces(record.namespaces);
  if (record.state !== 'notready' || record.networkReady) {
    await deps.sandboxes.update(id, (r) => ({ ...r, state: 'notready', networkReady: false }));
    log.info('pod sandbox stopped');
  }
  return {};
}
