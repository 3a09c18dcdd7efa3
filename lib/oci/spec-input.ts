import type { ConfigSchema, Device, Linux } from './spec.gen';

/**
 * The data generateSpec needs, already decided by the caller: every CRI/image/config merge rule
 * (command vs entrypoint, env precedence, user lookup, security policy) runs before, so spec
 * generation is a plain translation that is easy to test.
 */

/** The OCI runtime spec (config.json). */
export type Spec = ConfigSchema;

/** The OCI `process` object. */
export type SpecProcess = NonNullable<ConfigSchema['process']>;

/** The OCI `linux.resources` object (also what `runc update` reads). */
export type LinuxResources = NonNullable<Linux['resources']>;

/** The OCI `linux.seccomp` object. */
export type SpecSeccomp = NonNullable<Linux['seccomp']>;

/** One OCI rlimit entry, e.g. `{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }`. */
export type SpecRlimit = NonNullable<SpecProcess['rlimits']>[number];

/** The five OCI capability sets (`CAP_X` names). */
export interface SpecCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

/**
 * Security decisions for one container, produced by lib/security's resolveSecurity and consumed
 * here. Defined on the consumer side so lib/oci never imports lib/security.
 */
export interface SpecSecurity {
  /** Privileged: writable /sys and /sys/fs/cgroup, all devices allowed in the device cgroup. */
  privileged: boolean;
  capabilities: SpecCapabilities;
  noNewPrivileges: boolean;
  readonlyRootfs: boolean;
  /** Final list (empty for privileged containers). */
  maskedPaths: string[];
  /** Final list (empty for privileged containers). */
  readonlyPaths: string[];
  /** Omitted when AppArmor is off on the host or the container is privileged. */
  apparmorProfile?: string;
  /** SELinux process label; omitted when SELinux is off. */
  selinuxLabel?: string;
  /** SELinux mount label; omitted when SELinux is off. */
  mountLabel?: string;
  /** Omitted means unconfined. Kept for privileged containers too (crio.conf privileged_seccomp_profile). */
  seccomp?: SpecSeccomp;
  /** crio.conf `read_only`: tmpfs on /run, /tmp and /var/tmp (unless a CRI mount covers them). */
  readOnlyTmpfs?: boolean;
}

/** How a container gets one namespace. */
export type NamespaceSetting =
  | { mode: 'new' }
  /** Share the host's (the daemon's) namespace: no entry in the spec. */
  | { mode: 'host' }
  /** Join an existing namespace, e.g. the pod's pinned netns `/var/run/netns/<name>`. */
  | { mode: 'join'; path: string };

/** Namespaces of the container; the mount namespace is always new. */
export interface SpecNamespaces {
  network: NamespaceSetting;
  ipc: NamespaceSetting;
  uts: NamespaceSetting;
  pid: NamespaceSetting;
  /** Omitted = no cgroup namespace (CRI-O on cgroup v1). */
  cgroup?: NamespaceSetting;
  /** The pod's user namespace (joined by path) and its maps, which runc needs for ownership of what it creates. */
  user?: { path: string; uidMappings: SpecIdMapping[]; gidMappings: SpecIdMapping[] };
}

/** One line of a user namespace id map (same shape as lib/security's IdMapping). */
export interface SpecIdMapping {
  containerId: number;
  hostId: number;
  length: number;
}

/** A CRI volume mount (already resolved to a host path). */
export interface SpecMountInput {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  /** CRI PRIVATE / HOST_TO_CONTAINER / BIDIRECTIONAL. */
  propagation: 'private' | 'rslave' | 'rshared';
  /** Read-only all the way down (`rro`): submounts of the source become read-only too. Needs `readonly`. */
  recursiveReadOnly?: boolean;
}

/** Per-pod files bind-mounted into every container of the pod (unless a CRI mount covers them). */
export interface SpecPodFiles {
  hostsPath?: string;
  resolvPath?: string;
  hostnamePath?: string;
  /** The pod's /dev/shm (tmpfs per pod, or the host's /dev/shm for host-IPC pods). */
  shmPath?: string;
}

/** Cgroup resource settings (CRI LinuxContainerResources); zero/undefined means "not set". */
export interface SpecResources {
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  memoryLimitBytes?: number;
  /** memory+swap limit; the caller sets it only when the host has swap accounting. */
  memorySwapLimitBytes?: number;
  pidsLimit?: number;
  /** hugetlb limits; the caller drops them when the host has no hugetlb controller. */
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** cgroup v2 files to write (`memory.high` → value); the caller sets them only on cgroup v2. */
  unified?: Record<string, string>;
}

/** A host device to expose (CRI `devices`, or host devices for privileged containers). */
export interface SpecDeviceInput {
  device: Device;
  /** cgroup access string, e.g. `rwm`. */
  permissions: string;
  /** The host node when it differs from `device.path` (a user namespace needs it bind-mounted). */
  hostPath?: string;
}

/** The process to run; args/env/user are final (see process-args.ts). */
export interface SpecProcessInput {
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[]; umask?: number };
  terminal: boolean;
  /** Already clamped with clampOomScoreAdj when the host cannot lower scores. */
  oomScoreAdj?: number;
  /** Omitted = inherit the runtime's limits (CRI-O's default with empty `default_ulimits`). */
  rlimits?: SpecRlimit[];
}

/** Everything generateSpec needs. */
export interface SpecInput {
  containerId: string;
  /** Absolute path of the mounted rootfs. */
  rootfs: string;
  /** Set only when the UTS namespace is not the host's (runc refuses otherwise). */
  hostname?: string;
  process: SpecProcessInput;
  security: SpecSecurity;
  namespaces: SpecNamespaces;
  mounts: SpecMountInput[];
  /** mounts.conf binds (lib/oci/default-mounts.ts); pod files and `mounts` at the same path win. */
  defaultMounts?: SpecMountInput[];
  podFiles: SpecPodFiles;
  /** Final cgroupfs path, e.g. `/kubepods/besteffort/pod<uid>/crio-<id>`, or systemd `kubepods-besteffort-pod<uid>.slice:crio:<id>`. */
  cgroupsPath: string;
  resources?: SpecResources;
  devices?: SpecDeviceInput[];
  annotations: Record<string, string>;
  sysctls?: Record<string, string>;
  /** Whether the host has /dev/mqueue mounted (bound into host-IPC containers); default true. */
  hostMqueue?: boolean;
}
