import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backgroundContext } from '../context';
import { asError, errnoCode } from '../errors';
import type { Logger } from '../log';
import { listPodNamespaceIds, podNamespacePaths, removePodNamespaces } from '../network/namespaces';
import { unmount } from '../storage/mount';
import { findCgroups, removeCgroup } from '../oci/cgroupfs';
import { CRIO_PREFIX } from '../oci/cgroup-systemd';
import type { ServerDeps } from './deps';

/**
 * Removes what a daemon crash in the middle of RunPodSandbox or CreateContainer left without a
 * record: pinned namespaces, CNI attachments (IPs), pod dirs with their shm mount, bundles and
 * runtime state, writable layers. Only IDs of crio-ts's own shape (64 hex) are touched, so an
 * `ip netns add` name in the same directory is never removed.
 */

const OWN_ID = /^[0-9a-f]{64}$/;

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

async function step(log: Logger, what: string, id: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
    log.info('orphan removed', { what, id });
  } catch (err) {
    log.warn('orphan cleanup failed', { what, id, err: asError(err).message });
  }
}

/** Cleans every leftover that belongs to no recorded pod or container. */
export async function removeOrphans(deps: ServerDeps, log: Logger): Promise<void> {
  const pods = new Set(deps.sandboxes.list().map((p) => p.id));
  const containers = new Set(deps.containers.list().map((c) => c.id));
  // An infra container has its pod's ID.
  const known = (id: string) => pods.has(id) || containers.has(id);
  const nsDir = deps.config.runtime.namespaces_dir;

  for (const id of (await deps.cni.listAttachedPods()).filter((i) => OWN_ID.test(i) && !pods.has(i))) {
    await step(log, 'cni attachment', id, () =>
      deps.cni.tearDownPod({ podSandboxId: id, name: '', namespace: '', uid: '', netnsPath: '' }, backgroundContext(log)),
    );
  }
  for (const id of (await listPodNamespaceIds(nsDir)).filter((i) => OWN_ID.test(i) && !pods.has(i))) {
    await step(log, 'pod namespaces', id, () => removePodNamespaces(podNamespacePaths(nsDir, id, { net: true, ipc: true, uts: true, user: true })));
  }
  const orphanPods = (await listDir(deps.paths.podsDir)).filter((i) => OWN_ID.test(i) && !pods.has(i));
  // The empty cgroup of a pod without infra (sandbox-cgroup.ts) is made after its pod dir; its
  // parent was in the lost request, so it is looked for by name.
  for (const rel of await findCgroups(new Set(orphanPods.map((id) => `${CRIO_PREFIX}-${id}`)))) {
    await step(log, 'pod cgroup', rel, () => removeCgroup(rel));
  }
  for (const id of orphanPods) {
    await step(log, 'pod dir', id, async () => {
      await unmount(path.join(deps.paths.podsDir, id, 'shm'), { detach: true });
      await fs.rm(path.join(deps.paths.podsDir, id), { recursive: true, force: true });
    });
  }
  let runtime: ReturnType<ServerDeps['runtimeFor']> | undefined;
  try {
    runtime = deps.runtimeFor('');
  } catch (err) {
    log.warn('orphan bundles kept: default runtime unusable', { err: asError(err).message });
  }
  for (const id of (await listDir(deps.paths.bundlesDir)).filter((i) => OWN_ID.test(i) && !known(i))) {
    if (!runtime) break;
    const rt = runtime;
    await step(log, 'bundle', id, async () => {
      await rt.delete(id, true);
      await rt.removeContainerFiles(id);
      await fs.rm(path.join(deps.paths.bundlesDir, id), { recursive: true, force: true });
    });
  }
  for (const id of deps.containerLayers.list().filter((i) => OWN_ID.test(i) && !known(i))) {
    await step(log, 'container layer', id, () => deps.containerLayers.remove(id));
  }
}
