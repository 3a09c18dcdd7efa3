import type { Logger } from '../log';
import type { ServerDeps } from './deps';
import { refreshContainerExit } from './container-exit';
import { removeOrphans } from './restore-orphans';

/**
 * Brings the in-memory state in line with the host after a daemon (re)start: names are
 * reserved again, containers that exited while the daemon was down get their real exit code,
 * containers the runtime no longer knows are marked exited, and rootfs mounts are restored.
 */
export async function restoreState(deps: ServerDeps, log: Logger): Promise<void> {
  for (const pod of deps.sandboxes.list()) deps.podNames.reserve(pod.reservedName, pod.id);
  await removeOrphans(deps, log);
  await restoreInfraContainers(deps, log);
  for (const ctr of deps.containers.list()) {
    if (!deps.sandboxes.find(ctr.podSandboxId)) {
      log.warn('container of a missing pod dropped', { containerId: ctr.id, podSandboxId: ctr.podSandboxId });
      await deps.containers.delete(ctr.id);
      continue;
    }
    deps.containerNames.reserve(ctr.reservedName, ctr.id);
    if (ctr.state === 'exited') continue;
    const after = await refreshContainerExit(deps, ctr.id, log);
    if (!after || after.state === 'exited') continue;
    const runtime = deps.runtimeFor(deps.sandboxes.get(ctr.podSandboxId).runtimeHandler);
    const state = await runtime.state(ctr.id).catch(() => undefined);
    if (!state || state.status === 'stopped') {
      await deps.containers.update(ctr.id, (r) => ({ ...r, state: 'exited', reason: r.reason || 'Unknown', exitCode: r.exitCode || 255, pid: 0 }));
      log.warn('container lost while the daemon was down', { containerId: ctr.id, podSandboxId: ctr.podSandboxId });
      continue;
    }
    await deps.containerLayers.mount(ctr.id);
  }
  log.info('state restored', { pods: deps.sandboxes.size, containers: deps.containers.size });
}

/**
 * A ready pod whose pause process is gone (killed, or the node rebooted) cannot host new
 * containers in its PID namespace: it is reported NOTREADY so the kubelet recreates it.
 */
async function restoreInfraContainers(deps: ServerDeps, log: Logger): Promise<void> {
  for (const pod of deps.sandboxes.list()) {
    if (!pod.infra || pod.state !== 'ready') continue;
    const state = await deps.runtimeFor(pod.runtimeHandler).state(pod.id).catch(() => undefined);
    if (state?.status === 'running') {
      await deps.containerLayers.mount(pod.id);
      continue;
    }
    await deps.sandboxes.update(pod.id, (r) => ({ ...r, state: 'notready' }));
    log.warn('pod infra container lost while the daemon was down', { podSandboxId: pod.id });
  }
}
