import { InvalidArgumentError } from '../errors';
import { checkCgroupsPath } from './cgroup-systemd';
import { DEFAULT_DEVICE_CGROUP_RULES, OCI_VERSION, PRIVILEGED_DEVICE_CGROUP_RULES } from './defaults';
import type { NamespaceSetting, Spec, SpecInput, SpecProcess, SpecResources } from './spec-input';
import { buildMounts, rootfsPropagation } from './spec-mounts';
import type { Linux, NamespaceReference } from './spec.gen';

/** Translation of a fully decided SpecInput into an OCI runtime spec. Pure: no I/O, no defaults lookup. */

type LinuxResources = NonNullable<Linux['resources']>;

function namespaceEntry(type: NamespaceReference['type'], setting: NamespaceSetting | undefined): NamespaceReference[] {
  if (setting === undefined || setting.mode === 'host') return [];
  if (setting.mode === 'new') return [{ type }];
  if (!setting.path.startsWith('/')) throw new InvalidArgumentError(`${type} namespace path "${setting.path}" is not absolute`);
  return [{ type, path: setting.path }];
}

function buildNamespaces(input: SpecInput): NamespaceReference[] {
  const ns = input.namespaces;
  return [
    ...(ns.user ? namespaceEntry('user', { mode: 'join', path: ns.user.path }) : []),
    ...namespaceEntry('pid', ns.pid),
    ...namespaceEntry('network', ns.network),
    ...namespaceEntry('ipc', ns.ipc),
    ...namespaceEntry('uts', ns.uts),
    { type: 'mount' },
    // Privileged containers never get a cgroup namespace (CRI-O).
    ...(input.security.privileged ? [] : namespaceEntry('cgroup', ns.cgroup)),
  ];
}

function buildProcess(input: SpecInput): SpecProcess {
  const p = input.process;
  const sec = input.security;
  if (p.args.length === 0) throw new InvalidArgumentError(`container ${input.containerId}: no command specified`);
  if (!p.cwd.startsWith('/')) throw new InvalidArgumentError(`container ${input.containerId}: working directory "${p.cwd}" is not absolute`);
  const caps = sec.capabilities;
  const process: SpecProcess = {
    terminal: p.terminal,
    user: {
      uid: p.user.uid,
      gid: p.user.gid,
      additionalGids: [...p.user.additionalGids],
      ...(p.user.umask === undefined ? {} : { umask: p.user.umask }),
    },
    args: [...p.args],
    env: [...p.env],
    cwd: p.cwd,
    capabilities: {
      bounding: [...caps.bounding],
      effective: [...caps.effective],
      permitted: [...caps.permitted],
      inheritable: [...caps.inheritable],
      ambient: [...caps.ambient],
    },
    noNewPrivileges: sec.noNewPrivileges,
  };
  if (p.rlimits !== undefined) process.rlimits = p.rlimits.map((r) => ({ ...r }));
  if (p.oomScoreAdj !== undefined) process.oomScoreAdj = p.oomScoreAdj;
  if (sec.apparmorProfile !== undefined) process.apparmorProfile = sec.apparmorProfile;
  if (sec.selinuxLabel !== undefined) process.selinuxLabel = sec.selinuxLabel;
  return process;
}

const positive = (n: number | undefined): n is number => n !== undefined && n > 0;

/** The cgroup limits of SpecResources as OCI `linux.resources` (no device rules); also what `runc update` takes. */
export function cgroupResources(r: SpecResources): LinuxResources {
  const resources: LinuxResources = {};
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if (positive(r.cpuShares)) cpu.shares = r.cpuShares;
  // quota -1 means "unlimited" to the kernel, so only 0 counts as unset.
  if (r.cpuQuota !== undefined && r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  if (positive(r.cpuPeriod)) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;
  if (positive(r.memoryLimitBytes)) {
    resources.memory = { limit: r.memoryLimitBytes };
    if (r.memorySwapLimitBytes !== undefined && r.memorySwapLimitBytes !== 0) resources.memory.swap = r.memorySwapLimitBytes;
  }
  if (positive(r.pidsLimit)) resources.pids = { limit: r.pidsLimit };
  if (r.hugepageLimits !== undefined && r.hugepageLimits.length > 0) resources.hugepageLimits = r.hugepageLimits.map((h) => ({ ...h }));
  if (r.unified !== undefined && Object.keys(r.unified).length > 0) resources.unified = { ...r.unified };
  return resources;
}

function buildResources(input: SpecInput): LinuxResources {
  return {
    devices: [
      ...(input.security.privileged ? PRIVILEGED_DEVICE_CGROUP_RULES : DEFAULT_DEVICE_CGROUP_RULES).map((d) => ({ ...d })),
      ...(input.devices ?? []).map((d) => ({ allow: true, type: d.device.type, major: d.device.major, minor: d.device.minor, access: d.permissions })),
    ],
    ...cgroupResources(input.resources ?? {}),
  };
}

/** Builds config.json for one container from decided inputs. Throws InvalidArgumentError on malformed input. */
export function generateSpec(input: SpecInput): Spec {
  if (!input.rootfs.startsWith('/')) throw new InvalidArgumentError(`rootfs path "${input.rootfs}" is not absolute`);
  checkCgroupsPath(input.cgroupsPath);
  const sec = input.security;
  const user = input.namespaces.user;
  const idMap = (m: { containerId: number; hostId: number; length: number }) => ({ containerID: m.containerId, hostID: m.hostId, size: m.length });
  const linux: Linux = {
    ...(user ? { uidMappings: user.uidMappings.map(idMap), gidMappings: user.gidMappings.map(idMap) } : {}),
    namespaces: buildNamespaces(input),
    resources: buildResources(input),
    cgroupsPath: input.cgroupsPath,
    devices: (input.devices ?? []).map((d) => ({ ...d.device })),
  };
  // Privileged containers get neither list (resolveSecurity already empties them; this keeps the spec honest).
  if (!sec.privileged && sec.maskedPaths.length > 0) linux.maskedPaths = [...sec.maskedPaths];
  if (!sec.privileged && sec.readonlyPaths.length > 0) linux.readonlyPaths = [...sec.readonlyPaths];
  // resolveSecurity already omits seccomp for privileged containers unless privileged_seccomp_profile is set.
  if (sec.seccomp !== undefined) linux.seccomp = structuredClone(sec.seccomp);
  if (sec.mountLabel !== undefined) linux.mountLabel = sec.mountLabel;
  if (input.sysctls !== undefined && Object.keys(input.sysctls).length > 0) linux.sysctl = { ...input.sysctls };
  const propagation = rootfsPropagation(input);
  // Narrowing cast: runc accepts the recursive names the schema omits (see RootfsPropagation).
  if (propagation !== undefined) linux.rootfsPropagation = propagation as Linux['rootfsPropagation'];

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: buildProcess(input),
    root: { path: input.rootfs, readonly: sec.readonlyRootfs },
    mounts: buildMounts(input),
    annotations: { ...input.annotations },
    linux,
  };
  if (input.hostname !== undefined && input.namespaces.uts.mode !== 'host') spec.hostname = input.hostname;
  return spec;
}
