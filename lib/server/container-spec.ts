import { promises as fs } from 'node:fs';
import { NamespaceMode, SupplementalGroupsPolicy, type ContainerConfig } from '../cri/gen/api';
import { allValues } from '../cleanup';
import { NotFoundError } from '../errors';
import type { ImageRecord } from '../image/image-store';
import { cgroupManagerName, containerCgroupsPath, systemdScopeAnnotations } from '../oci/cgroup-systemd';
import { readUserDb } from '../oci/passwd';
import { mergeEnv, resolveProcessArgs, resolveUser } from '../oci/process-args';
import type { OciRuntime } from '../oci/runtime';
import type { NamespaceSetting, SpecInput } from '../oci/spec-input';
import type { SandboxRecord } from '../state/records';
import { containerDevices } from './container-devices';
import { containerDefaultMounts } from './container-extensions';
import { criMounts, imageVolumeMounts, terminationLog } from './container-mounts';
import { containerResources } from './container-resources';
import { requireHostId } from '../security/userns';
import { containerSecurity, relabelVolumes } from './container-security';
import type { ServerDeps } from './deps';
import { quote } from '../quote';

/**
 * Decides everything about a new container's OCI spec from the CRI request, the pod, the image
 * and crio.conf; generateSpec then only translates. Kept apart from container-create.ts so the
 * RPC reads as a sequence of steps.
 */

export interface SpecSources {
  id: string;
  pod: SandboxRecord;
  config: ContainerConfig;
  image: ImageRecord;
  /**
   * The container's rootfs, once its layer is mounted: everything else about the spec is decided
   * while the layer is made (its records' fsyncs), only the user (the image's /etc/passwd and
   * /etc/group) and image volumes wait for it.
   */
  rootfs: Promise<string>;
  /** The container's bundle directory (image VOLUME dirs with image_volumes = bind, termination log). */
  bundleDir: string;
  runtime: OciRuntime;
}

/** What the spec decided that the container's record keeps. */
export interface SpecDecisions {
  user: { uid: number; gid: number; supplementalGroups: number[] };
  terminationLogPath?: string;
}

/** Whether /dev/mqueue exists on the host (systemd mounts it; minimal hosts may not have it). */
export async function hostHasMqueue(): Promise<boolean> {
  return fs.stat('/dev/mqueue').then(
    (st) => st.isDirectory(),
    () => false,
  );
}

function joinOrHost(path: string | undefined): NamespaceSetting {
  return path ? { mode: 'join', path } : { mode: 'host' };
}

function pidNamespace(deps: ServerDeps, pod: SandboxRecord, mode: NamespaceMode | undefined, targetId: string): NamespaceSetting {
  if (mode === NamespaceMode.NODE) return { mode: 'host' };
  // POD: share the PID namespace of the pod's infra container, whose pause process is PID 1.
  if ((mode ?? NamespaceMode.POD) === NamespaceMode.POD && pod.infra) return { mode: 'join', path: `/proc/${pod.infra.pid}/ns/pid` };
  if (mode === NamespaceMode.TARGET) {
    const target = deps.containers.find(targetId);
    if (!target || target.state !== 'running' || target.pid <= 0) {
      throw new NotFoundError(`CreateContainer: PID namespace target container ${quote(targetId)} is not running`);
    }
    return { mode: 'join', path: `/proc/${target.pid}/ns/pid` };
  }
  // POD without an infra container behaves like CONTAINER: a private PID namespace.
  return { mode: 'new' };
}

/** Builds the SpecInput for a new container, plus warnings about adjusted settings. */
export async function buildSpecInput(deps: ServerDeps, src: SpecSources): Promise<{ input: SpecInput; warnings: string[]; decided: SpecDecisions }> {
  const { pod, config, image } = src;
  const sc = config.linux?.securityContext;
  const nsOptions = sc?.namespaceOptions;
  const warnings: string[] = [];

  const args = resolveProcessArgs({ imageEntrypoint: image.config.entrypoint, imageCmd: image.config.cmd, command: config.command, args: config.args });
  // The rootfs and the steps that need neither it nor each other, at once; warnings keep their
  // order. All settle before a failure is thrown: the caller removes the bundle directory next.
  const resourceWarnings: string[] = [];
  const [rootfs, sec, { resources: res, oomScoreAdj, rlimits }, volumes, defaultMounts, devices, hostMqueue] = await allValues([
    src.rootfs,
    containerSecurity(deps, pod, config),
    containerResources(deps, pod, config, resourceWarnings),
    criMounts(deps, src.runtime, config.mounts),
    containerDefaultMounts(deps, pod, src.bundleDir),
    containerDevices(deps, pod, config),
    pod.namespaces.ipc === undefined ? hostHasMqueue() : undefined,
  ]);
  const user = resolveUser({
    runAsUser: sc?.runAsUser ? Number(sc.runAsUser.value) : undefined,
    runAsUsername: sc?.runAsUsername,
    runAsGroup: sc?.runAsGroup ? Number(sc.runAsGroup.value) : undefined,
    imageUser: image.config.user,
    supplementalGroups: (sc?.supplementalGroups ?? []).map(Number),
    supplementalGroupsPolicy: sc?.supplementalGroupsPolicy === SupplementalGroupsPolicy.Strict ? 'strict' : 'merge',
    userDb: await readUserDb(rootfs),
  });
  const env = mergeEnv({
    defaults: deps.config.runtime.default_env,
    image: image.config.env,
    cri: config.envs.map((kv) => `${kv.key}=${kv.value}`),
  });
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${pod.hostname}`);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);

  warnings.push(...sec.warnings, ...resourceWarnings);
  await relabelVolumes(pod, config, sec.security);
  // Files crio-ts makes for the container belong to its user as the host sees it.
  const owner = pod.userns
    ? { uid: requireHostId(pod.userns.uids, user.uid, 'user id'), gid: requireHostId(pod.userns.gids, user.gid, 'group id') }
    : { uid: user.uid, gid: user.gid };
  const imageVolumes = await imageVolumeMounts(deps, {
    volumes: image.config.volumes,
    rootfs,
    bundleDir: src.bundleDir,
    uid: owner.uid,
    gid: owner.gid,
    covered: volumes,
  });
  const termination = await terminationLog(config, volumes, src.bundleDir);
  // Image volumes first: a CRI mount or the termination log at the same path replaces one.
  const mounts = [...imageVolumes, ...volumes, ...(termination.mount ? [termination.mount] : [])];
  warnings.push(...defaultMounts.warnings);

  const input: SpecInput = {
    containerId: src.id,
    rootfs,
    hostname: pod.namespaces.uts ? pod.hostname : undefined,
    process: {
      args,
      env,
      cwd: config.workingDir || image.config.workingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, umask: sec.umask },
      terminal: config.tty,
      oomScoreAdj,
      rlimits,
    },
    security: sec.security,
    namespaces: {
      network: joinOrHost(pod.namespaces.net),
      ipc: joinOrHost(pod.namespaces.ipc),
      uts: joinOrHost(pod.namespaces.uts),
      pid: pidNamespace(deps, pod, nsOptions?.pid, nsOptions?.targetId ?? ''),
      ...(pod.userns && pod.namespaces.user ? { user: { path: pod.namespaces.user, uidMappings: pod.userns.uids, gidMappings: pod.userns.gids } } : {}),
    },
    mounts,
    defaultMounts: defaultMounts.inputs,
    podFiles: { ...pod.podFiles, shmPath: pod.shmPath },
    cgroupsPath: containerCgroupsPath(cgroupManagerName(deps.config.runtime.cgroup_manager), pod.cgroupParent, src.id),
    resources: res,
    devices,
    hostMqueue,
    annotations: {
      ...config.annotations,
      ...sec.annotations,
      ...systemdScopeAnnotations(cgroupManagerName(deps.config.runtime.cgroup_manager), config.annotations),
      'io.kubernetes.cri-o.ContainerType': 'container',
      'io.kubernetes.cri-o.SandboxID': pod.id,
      'io.kubernetes.container.name': config.metadata?.name ?? '',
      'io.kubernetes.pod.name': pod.metadata.name,
      'io.kubernetes.pod.namespace': pod.metadata.namespace,
      'io.kubernetes.pod.uid': pod.metadata.uid,
    },
  };
  const decided: SpecDecisions = {
    user: { uid: user.uid, gid: user.gid, supplementalGroups: user.additionalGids },
    ...(termination.hostPath === undefined ? {} : { terminationLogPath: termination.hostPath }),
  };
  return { input, warnings, decided };
}
