import type { StopPodSandboxRequest, StopPodSandboxResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { removePodNamespaces } from '../network/namespaces';
import type { ServerDeps } from './deps';
import { stopContainerRecord } from './container-ops';
import { stopInfraContainer } from './sandbox-infra';
import { faultPoint } from '../fault-points';

/** How long containers get to stop when the pod is stopped without a deadline (CRI-O: 10 s). */
const POD_STOP_TIMEOUT_SEC = 10;

/**
 * StopPodSandbox: stops every container, tears down the network (CNI DEL), unmounts /dev/shm,
 * removes the pinned namespaces. Idempotent; an unknown ID succeeds, as the kubelet expects.
 *
 * Every step can be cut short by a crash and is safe to run again: a retry after a restart
 * finishes the job. Progress is recorded without waits of its own: NOTREADY while the containers
 * stop (the pod then refuses new containers, also after a restart), the network's end while the
 * mounts go (a retry then skips CNI DEL). A network namespace that is gone — or only its empty
 * file is left — means CNI DEL without a netns, as CRI-O does.
 */
export async function stopPodSandbox(deps: ServerDeps, ctx: OpContext, req: StopPodSandboxRequest): Promise<StopPodSandboxResponse> {
  const id = deps.sandboxes.resolveId(req.podSandboxId);
  if (id === undefined) {
    ctx.log.info('stop of unknown pod sandbox ignored', { podSandboxId: req.podSandboxId });
    return {};
  }
  const log = withLogFields(ctx, { podSandboxId: id }).log;
  // No new container from here on; a create or start already running finishes and is stopped below.
  await deps.podGate.beginStop(id);
  const record = deps.sandboxes.get(id);
  // A repeated stop redoes every step (each finds little to do); only the first marks fault points.
  const wasReady = record.state === 'ready';
  const markedNotReady = wasReady ? deps.sandboxes.update(id, (r) => ({ ...r, state: 'notready' })) : undefined;
  const containers = deps.containers.list().filter((c) => c.podSandboxId === id);
  await Promise.all([...containers.map((c) => stopContainerRecord(deps, c, POD_STOP_TIMEOUT_SEC, log)), markedNotReady]);
  if (wasReady) faultPoint('sandbox-stop:containers-stopped');
  // The pause process goes last: the containers share its PID namespace.
  await stopInfraContainer(deps, record);
  if (wasReady) faultPoint('sandbox-stop:infra-stopped');
  if (record.networkReady) {
    await deps.cni.tearDownPod(
      { podSandboxId: id, name: record.metadata.name, namespace: record.metadata.namespace, uid: record.metadata.uid, netnsPath: record.namespaces.net ?? '' },
      { log, signal: new AbortController().signal },
    );
    faultPoint('sandbox-stop:network-removed');
  }
  // The pod's /dev/shm goes with its namespace files, in one umount (a spawn blocks the daemon 5-15 ms).
  const shm = record.shmPath && record.shmPath !== '/dev/shm' ? [record.shmPath] : [];
  await Promise.all([record.networkReady ? deps.sandboxes.update(id, (r) => ({ ...r, networkReady: false })) : undefined, removePodNamespaces(record.namespaces, shm)]);
  if (wasReady) faultPoint('sandbox-stop:namespaces-removed');
  if (wasReady) log.info('pod sandbox stopped');
  return {};
}
