import { promises as fs } from 'node:fs';
import path from 'node:path';
import { NamespaceMode } from '../cri/gen/api';
import { infraStorageEntry } from './storage-names';
import { CleanupStack } from '../cleanup';
import type { OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import type { ImageRecord } from '../image/image-store';
import { cgroupManagerName, containerCgroupsPath, systemdScopeAnnotations } from '../oci/cgroup-systemd';
import { generateSpec } from '../oci/spec';
import { resolveSecurity } from '../security/security';
import type { IdMappings } from '../security/userns';
import type { SandboxRecord } from '../state/records';
import { hostHasMqueue } from './container-spec';
import type { ServerDeps } from './deps';
import { faultPoint } from '../fault-points';

/**
 * The infra ("pause") container: only when the pod needs a process of its own — a PID namespace
 * shared by its containers (PID mode POD; the pause process is PID 1) or drop_infra_ctr = false.
 * It uses the pod's ID as its container ID, as CRI-O does, and is never listed as a container.
 */

/** Whether a pod with this PID mode needs an infra container. */
export function needsInfraContainer(deps: ServerDeps, pidMode: NamespaceMode | undefined): boolean {
  return !deps.config.runtime.drop_infra_ctr || (pidMode ?? NamespaceMode.POD) === NamespaceMode.POD;
}

/** The pause image, pulled if missing (CRI-O pulls it on demand too). */
async function pauseImage(deps: ServerDeps, ctx: OpContext): Promise<ImageRecord> {
  const name = deps.config.image.pause_image;
  const authFile = deps.config.image.pause_image_auth_file || undefined;
  return (await deps.images.status(name)) ?? (await deps.images.pull(name, undefined, ctx, { authFile }));
}

type InfraPod = Pick<SandboxRecord, 'id' | 'reservedName' | 'metadata' | 'namespaces' | 'hostname' | 'cgroupParent' | 'podDir' | 'podFiles' | 'shmPath' | 'runtimeHandler'> & {
  /** The pod's user namespace maps, when it has one. */
  userns?: IdMappings;
};

/** Creates and starts the pause container in the pod's namespaces; undone fully on failure. */
export async function startInfraContainer(deps: ServerDeps, pod: InfraPod, hostPid: boolean, ctx: OpContext): Promise<NonNullable<SandboxRecord['infra']>> {
  const image = await pauseImage(deps, ctx);
  if (!image.topLayer) throw new FailedPreconditionError(`pause image ${image.id} has no layers`);
  const runtime = deps.runtimeFor(pod.runtimeHandler);
  const cleanup = new CleanupStack();
  try {
    const entry = infraStorageEntry({ podId: pod.id, reservedName: pod.reservedName, metadata: pod.metadata, imageName: deps.config.image.pause_image, imageId: image.id });
    const { rootfs } = await deps.containerLayers.create(pod.id, { imageId: image.id, ...entry, idMappings: pod.userns });
    cleanup.add('remove infra layer', () => deps.containerLayers.remove(pod.id));
    const bundleDir = path.join(deps.paths.bundlesDir, pod.id);
    await fs.mkdir(bundleDir, { recursive: true, mode: 0o700 });
    cleanup.add('remove infra bundle', () => fs.rm(bundleDir, { recursive: true, force: true }));

    const pauseCommand = deps.config.image.pause_command;
    const args = pauseCommand !== '' ? [pauseCommand] : [...image.config.entrypoint, ...image.config.cmd];
    const { security } = resolveSecurity({
      privileged: false,
      defaultCapabilities: deps.config.runtime.default_capabilities,
      addInheritableCapabilities: false,
      hostCapabilities: deps.host.capabilities,
      noNewPrivileges: true,
      readonlyRootfs: true,
      maskedPaths: [],
      readonlyPaths: [],
      hostFeatures: { apparmor: deps.host.apparmor, selinux: deps.host.selinux, seccomp: deps.host.seccomp },
    });
    const join = (p: string | undefined) => (p ? ({ mode: 'join', path: p } as const) : ({ mode: 'host' } as const));
    const spec = generateSpec({
      containerId: pod.id,
      rootfs,
      hostname: pod.namespaces.uts ? pod.hostname : undefined,
      process: { args, env: image.config.env, cwd: '/', user: { uid: 0, gid: 0, additionalGids: [0] }, terminal: false },
      security,
      namespaces: {
        network: join(pod.namespaces.net),
        ipc: join(pod.namespaces.ipc),
        uts: join(pod.namespaces.uts),
        pid: hostPid ? { mode: 'host' } : { mode: 'new' },
        ...(pod.userns && pod.namespaces.user ? { user: { path: pod.namespaces.user, uidMappings: pod.userns.uids, gidMappings: pod.userns.gids } } : {}),
      },
      mounts: [],
      podFiles: { ...pod.podFiles, shmPath: pod.shmPath },
      cgroupsPath: containerCgroupsPath(cgroupManagerName(deps.config.runtime.cgroup_manager), pod.cgroupParent, pod.id),
      annotations: {
        ...systemdScopeAnnotations(cgroupManagerName(deps.config.runtime.cgroup_manager), {}),
        'io.kubernetes.cri-o.ContainerType': 'sandbox',
        'io.kubernetes.cri-o.SandboxID': pod.id,
      },
      hostMqueue: pod.namespaces.ipc === undefined ? await hostHasMqueue() : undefined,
    });
    // The bundle lives in runroot (tmpfs): no fsync needed.
    await writeFileAtomic(path.join(bundleDir, 'config.json'), JSON.stringify(spec), 0o600, false);
    const created = await runtime.createContainer(
      { containerId: pod.id, name: `k8s_POD_infra_${pod.id.slice(0, 12)}`, bundleDir, logPath: path.join(pod.podDir, 'infra.log'), terminal: false, stdin: false, stdinOnce: false },
      ctx,
    );
    cleanup.add('delete infra container', () => runtime.delete(pod.id, true));
    faultPoint('infra:created');
    await runtime.startContainer(pod.id);
    cleanup.clear();
    ctx.log.info('infra container started', { podSandboxId: pod.id, pid: created.pid, image: image.id });
    return { pid: created.pid, bundleDir, image: image.id };
  } catch (err) {
    await cleanup.run(ctx.log);
    throw err;
  }
}

/** Stops the pause process (it exits on SIGTERM; SIGKILL after a grace second). Idempotent. */
export async function stopInfraContainer(deps: ServerDeps, pod: SandboxRecord): Promise<void> {
  if (!pod.infra) return;
  await deps.runtimeFor(pod.runtimeHandler).stopContainer(pod.id, 1, 'SIGTERM');
}

/** Deletes the infra container's runtime state, rootfs and bundle. Idempotent. */
export async function removeInfraContainer(deps: ServerDeps, pod: Pick<SandboxRecord, 'id' | 'runtimeHandler' | 'infra'>): Promise<void> {
  if (!pod.infra) return;
  const runtime = deps.runtimeFor(pod.runtimeHandler);
  await runtime.delete(pod.id, true);
  await runtime.removeContainerFiles(pod.id);
  await deps.containerLayers.remove(pod.id);
  await fs.rm(pod.infra.bundleDir, { recursive: true, force: true });
}
