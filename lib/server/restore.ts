import type { Logger } from '../log';
import type { ServerDeps } from './deps';
import { refreshContainerExit } from './container-exit';

/**
 * Brings the in-memory state in line with the host after a daemon (re)start: names are
 * reserved again, containers that exited while the daemon was down get their real exit code,
 * containers the runtime no longer knows are marked exited, and rootfs mounts are restored.
 */
export async function restoreState(deps: ServerDeps, log: Logger): Promise<void> {
  for (const pod of deps.sandboxes.list()) deps.podNames.reserve(pod.reservedName, pod.id);
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
