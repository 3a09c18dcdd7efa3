import { backgroundContext } from '../context';
import type { Logger } from '../log';
import type { LayerStore } from '../storage/layer-store';
import type { NodeEvents } from '../storage/node-events';
import { repairStorage } from '../storage/recovery';
import type { ServerDeps } from './deps';
import { killLeftovers, markContainerLost, refreshContainerExit } from './container-exit';
import { removeOrphans } from './restore-orphans';
import { nowNs } from '../state/records';

/**
 * Brings the in-memory state in line with the host after a daemon (re)start: names are
 * reserved again, containers that exited while the daemon was down get their real exit code,
 * containers the runtime no longer knows are marked exited, and rootfs mounts are restored.
 */
export async function restoreState(deps: ServerDeps, log: Logger): Promise<void> {
  for (const pod of deps.sandboxes.list()) deps.podNames.reserve(pod.reservedName, pod.id, pod.requestHash);
  // Records first, so removeOrphans also takes the layers and bundles of these containers.
  for (const ctr of deps.containers.list()) {
    if (deps.sandboxes.find(ctr.podSandboxId)) continue;
    log.warn('container of a missing pod dropped', { containerId: ctr.id, podSandboxId: ctr.podSandboxId });
    await deps.containers.delete(ctr.id);
  }
  await removeOrphans(deps, log);
  await restoreInfraContainers(deps, log);
  for (const ctr of deps.containers.list()) {
    deps.containerNames.reserve(ctr.reservedName, ctr.id, ctr.requestHash);
    if (ctr.state === 'exited') {
      // A crash right after its exit was recorded may have left its init's children running.
      await killLeftovers(deps, ctr, log);
      continue;
    }
    const after = await refreshContainerExit(deps, ctr.id, log);
    if (!after || after.state === 'exited') continue;
    const runtime = deps.runtimeFor(deps.sandboxes.get(ctr.podSandboxId).runtimeHandler);
    const state = await runtime.state(ctr.id).catch(() => undefined);
    if (!state || state.status === 'stopped') {
      await markContainerLost(deps, ctr.id, log);
      log.warn('container lost while the daemon was down', { containerId: ctr.id, podSandboxId: ctr.podSandboxId });
      continue;
    }
    // A crash between `runc start` and its record leaves a started container recorded as created.
    if (after.state === 'created' && state.status === 'running') {
      await deps.containers.update(ctr.id, (r) => ({ ...r, state: 'running', startedAtNs: r.startedAtNs === '0' ? nowNs() : r.startedAtNs }));
      log.warn('container started while the daemon went down recorded as running', { containerId: ctr.id, podSandboxId: ctr.podSandboxId });
    }
    await deps.containerLayers.restoreMount(ctr.id);
    const reaped = await runtime.reapOrphanedExecs(ctr.id, after.pid);
    if (reaped > 0) log.warn('execs left running by the previous daemon killed', { containerId: ctr.id, count: reaped });
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
      await deps.containerLayers.restoreMount(pod.id);
      continue;
    }
    await deps.sandboxes.update(pod.id, (r) => ({ ...r, state: 'notready' }));
    log.warn('pod infra container lost while the daemon was down', { podSandboxId: pod.id });
  }
}

/**
 * Acts on what happened while the daemon was down (lib/storage/node-events.ts); runs before
 * restoreState. After a reboot every pod and container is gone: their records are dropped and
 * removeOrphans (in restoreState) clears bundles, writable layers, CNI attachments and pod
 * dirs. After an unclean stop every layer, image and writable layer is checked and only what is
 * damaged is dropped. Images survive both.
 */
export async function recoverNodeEvents(deps: ServerDeps, layerStore: LayerStore, events: NodeEvents, log: Logger): Promise<void> {
  log.info('node events', { rebooted: events.rebooted, uncleanShutdown: events.uncleanShutdown });
  if (events.rebooted) {
    const counts = { pods: deps.sandboxes.size, containers: deps.containers.size };
    for (const c of deps.containers.list()) await deps.containers.delete(c.id);
    for (const p of deps.sandboxes.list()) await deps.sandboxes.delete(p.id);
    if (counts.pods + counts.containers > 0) log.info('node rebooted: stale pods and containers dropped', counts);
  }
  if (!events.uncleanShutdown) return;
  if (!deps.config.crio.internal_repair) {
    log.warn('unclean shutdown: storage not checked (internal_repair is off)');
    return;
  }
  await repairStorage(
    layerStore,
    deps.containerLayers,
    {
      images: async () => (await deps.images.list()).filter((i) => !i.readOnly).map((i) => ({ id: i.id, layerIds: i.layers.map((l) => l.layerId) })),
      imageIntact: async (id) => {
        const image = await deps.images.status(id);
        return image !== undefined && (await deps.images.imageSpec(image).then(() => true, () => false));
      },
      removeImage: async (id) => {
        await deps.images.remove(id, backgroundContext(log));
      },
      // Dropping the record is enough: removeOrphans then deletes runtime state, bundle and layer.
      removeContainer: async (id) => {
        for (const c of deps.containers.list().filter((r) => r.id === id || r.podSandboxId === id)) await deps.containers.delete(c.id);
        if (deps.sandboxes.find(id)) await deps.sandboxes.delete(id);
      },
    },
    log,
  );
}
