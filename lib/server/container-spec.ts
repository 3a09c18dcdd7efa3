import { promises as fs } from 'node:fs';
import { MountPropagation, NamespaceMode, SupplementalGroupsPolicy, type ContainerConfig, type Mount } from '../cri/gen/api';
import { InvalidArgumentError, NotFoundError, errnoCode } from '../errors';
import type { ImageRecord } from '../image/image-store';
import { readUserDb } from '../oci/passwd';
import { clampOomScoreAdj, mergeEnv, resolveProcessArgs, resolveUser } from '../oci/process-args';
import type { NamespaceSetting, SpecInput, SpecMountInput, SpecResources } from '../oci/spec-input';
import type { SandboxRecord } from '../state/records';
import { containerSecurity } from './container-security';
import type { ServerDeps } from './deps';

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
  rootfs: string;
}

function joinOrHost(path: string | undefined): NamespaceSetting {
  return path ? { mode: 'join', path } : { mode: 'host' };
}

function pidNamespace(deps: ServerDeps, mode: NamespaceMode | undefined, targetId: string): NamespaceSetting {
  if (mode === NamespaceMode.NODE) return { mode: 'host' };
  if (mode === NamespaceMode.TARGET) {
    const target = deps.containers.find(targetId);
    if (!target || target.state !== 'running' || target.pid <= 0) {
      throw new NotFoundError(`CreateContainer: PID namespace target container ${JSON.stringify(targetId)} is not running`);
    }
    return { mode: 'join', path: `/proc/${target.pid}/ns/pid` };
  }
  // POD without an infra container behaves like CONTAINER: a private PID namespace.
  return { mode: 'new' };
}

function propagation(p: MountPropagation): SpecMountInput['propagation'] {
  if (p === MountPropagation.PROPAGATION_HOST_TO_CONTAINER) return 'rslave';
  if (p === MountPropagation.PROPAGATION_BIDIRECTIONAL) return 'rshared';
  return 'private';
}

/** CRI mounts; a missing host path is created (as CRI-O does) unless crio.conf forbids it. */
async function criMounts(deps: ServerDeps, mounts: Mount[]): Promise<SpecMountInput[]> {
  const out: SpecMountInput[] = [];
  for (const m of mounts) {
    if (m.containerPath === '' || !m.containerPath.startsWith('/')) {
      throw new InvalidArgumentError(`CreateContainer: mount container_path ${JSON.stringify(m.containerPath)} must be an absolute path`);
    }
    if (m.hostPath === '' || !m.hostPath.startsWith('/')) {
      throw new InvalidArgumentError(`CreateContainer: mount host_path ${JSON.stringify(m.hostPath)} must be an absolute path`);
    }
    try {
      await fs.stat(m.hostPath);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      if (deps.config.runtime.absent_mount_sources_to_reject.includes(m.hostPath)) {
        throw new InvalidArgumentError(`CreateContainer: mount host_path ${m.hostPath} does not exist`);
      }
      await fs.mkdir(m.hostPath, { recursive: true, mode: 0o755 });
    }
    out.push({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readonly, propagation: propagation(m.propagation) });
  }
  return out;
}

function resources(deps: ServerDeps, config: ContainerConfig, warnings: string[]): { resources: SpecResources; oomScoreAdj?: number } {
  const r = config.linux?.resources;
  const res: SpecResources = {};
  if (!r) return { resources: res };
  if (r.cpuShares > 0n) res.cpuShares = Number(r.cpuShares);
  if (r.cpuQuota > 0n) res.cpuQuota = Number(r.cpuQuota);
  if (r.cpuPeriod > 0n) res.cpuPeriod = Number(r.cpuPeriod);
  if (r.cpusetCpus) res.cpusetCpus = r.cpusetCpus;
  if (r.cpusetMems) res.cpusetMems = r.cpusetMems;
  if (r.memoryLimitInBytes > 0n) res.memoryLimitBytes = Number(r.memoryLimitInBytes);
  if (r.memorySwapLimitInBytes > 0n) res.memorySwapLimitBytes = Number(r.memorySwapLimitInBytes);
  if (deps.config.runtime.pids_limit > 0) res.pidsLimit = deps.config.runtime.pids_limit;
  let oomScoreAdj: number | undefined;
  if (r.oomScoreAdj !== 0n) {
    const clamped = clampOomScoreAdj(Number(r.oomScoreAdj), deps.host.canLowerOomScoreAdj);
    if (clamped.warning) warnings.push(clamped.warning);
    oomScoreAdj = clamped.value;
  }
  return { resources: res, oomScoreAdj };
}

/** Builds the SpecInput for a new container, plus warnings about adjusted settings. */
export async function buildSpecInput(deps: ServerDeps, src: SpecSources): Promise<{ input: SpecInput; warnings: string[] }> {
  const { pod, config, image } = src;
  const sc = config.linux?.securityContext;
  const nsOptions = sc?.namespaceOptions;
  const warnings: string[] = [];

  const args = resolveProcessArgs({ imageEntrypoint: image.config.entrypoint, imageCmd: image.config.cmd, command: config.command, args: config.args });
  const user = resolveUser({
    runAsUser: sc?.runAsUser ? Number(sc.runAsUser.value) : undefined,
    runAsUsername: sc?.runAsUsername,
    runAsGroup: sc?.runAsGroup ? Number(sc.runAsGroup.value) : undefined,
    imageUser: image.config.user,
    supplementalGroups: (sc?.supplementalGroups ?? []).map(Number),
    supplementalGroupsPolicy: sc?.supplementalGroupsPolicy === SupplementalGroupsPolicy.Strict ? 'strict' : 'merge',
    userDb: await readUserDb(src.rootfs),
  });
  const env = mergeEnv({
    defaults: deps.config.runtime.default_env,
    image: image.config.env,
    cri: config.envs.map((kv) => `${kv.key}=${kv.value}`),
  });
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${pod.hostname}`);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);

  const { security, warnings: secWarnings } = containerSecurity(deps, config);
  warnings.push(...secWarnings);
  const { resources: res, oomScoreAdj } = resources(deps, config, warnings);

  const input: SpecInput = {
    containerId: src.id,
    rootfs: src.rootfs,
    hostname: pod.namespaces.uts ? pod.hostname : undefined,
    process: {
      args,
      env,
      cwd: config.workingDir || image.config.workingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      terminal: config.tty,
      oomScoreAdj,
    },
    security,
    namespaces: {
      network: joinOrHost(pod.namespaces.net),
      ipc: joinOrHost(pod.namespaces.ipc),
      uts: joinOrHost(pod.namespaces.uts),
      pid: pidNamespace(deps, nsOptions?.pid, nsOptions?.targetId ?? ''),
    },
    mounts: await criMounts(deps, config.mounts),
    podFiles: { ...pod.podFiles, shmPath: pod.shmPath },
    cgroupsPath: `${pod.cgroupParent}/crio-${src.id}`,
    resources: res,
    annotations: {
      ...config.annotations,
      'io.kubernetes.cri-o.ContainerType': 'container',
      'io.kubernetes.cri-o.SandboxID': pod.id,
      'io.kubernetes.container.name': config.metadata?.name ?? '',
      'io.kubernetes.pod.name': pod.metadata.name,
      'io.kubernetes.pod.namespace': pod.metadata.namespace,
      'io.kubernetes.pod.uid': pod.metadata.uid,
    },
  };
  return { input, warnings };
}
