import type { IdMappings } from '../idmap';
import type { VersionedRecord } from './record-store';

/**
 * Persisted shapes of pods and containers. The original CRI config is kept as its proto JSON
 * (`PodSandboxConfig.toJSON`) so verbose status and later RPCs see exactly what the kubelet
 * sent; everything crio-ts derived is stored beside it. Timestamps are nanoseconds since the
 * epoch as decimal strings: JSON has no 64-bit integers.
 */

export const RECORD_VERSION = 1;

/** READY after RunPodSandbox succeeds, NOTREADY after StopPodSandbox. */
export type SandboxState = 'ready' | 'notready';

export interface SandboxRecord extends VersionedRecord {
  version: typeof RECORD_VERSION;
  id: string;
  /** Reserved name (k8s_POD_<name>_<namespace>_<uid>_<attempt>). */
  reservedName: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: SandboxState;
  createdAtNs: string;
  runtimeHandler: string;
  hostname: string;
  logDirectory: string;
  /** Pinned namespace files; absent for host namespaces. */
  namespaces: { net?: string; ipc?: string; uts?: string; user?: string };
  /** The pod's user namespace maps (hostUsers: false or userns-mode); `auto` when allocated by crio-ts. */
  userns?: IdMappings & { auto: boolean };
  hostNetwork: boolean;
  ips: string[];
  cgroupParent: string;
  /** Per-pod files (hostname, hosts, resolv.conf, shm) live here, under runroot. */
  podDir: string;
  /** hosts, resolv.conf and hostname files bind-mounted into every container. */
  podFiles: { hostsPath: string; resolvPath: string; hostnamePath: string };
  shmPath?: string;
  /**
   * The infra (pause) container, when the pod needs one: PID namespace shared by the pod
   * (PID mode POD) or drop_infra_ctr = false. Its ID is the pod's ID, as in CRI-O.
   */
  infra?: { pid: number; bundleDir: string; image: string };
  /** Whether the network was set up (so stop knows to run CNI DEL). */
  networkReady: boolean;
  /** The RunPodSandbox config as proto JSON. */
  config: unknown;
  /** requestFingerprint of the RunPodSandbox request, so an identical retry gets this ID (absent in older records). */
  requestHash?: string;
}

/** CRI container states; `unknown` is used when the runtime lost track of a container. */
export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerRecord extends VersionedRecord {
  version: typeof RECORD_VERSION;
  id: string;
  podSandboxId: string;
  reservedName: string;
  metadata: { name: string; attempt: number };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /**
   * What the kubelet asked for, the image ID it resolved to, the repo digest reference, and the
   * name reported in statuses (absent in older records: `requested` then).
   */
  image: { requested: string; id: string; ref: string; name?: string };
  state: ContainerState;
  createdAtNs: string;
  startedAtNs: string;
  finishedAtNs: string;
  exitCode: number;
  reason: string;
  message: string;
  pid: number;
  logPath: string;
  bundleDir: string;
  rootfs: string;
  /** The CreateContainer config as proto JSON; UpdateContainerResources rewrites `linux.resources`. */
  config: unknown;
  /** requestFingerprint of the CreateContainer request, so an identical retry gets this ID (absent in older records). */
  requestHash?: string;
  /** The process identity the spec got (ContainerStatus.user). */
  user?: { uid: number; gid: number; supplementalGroups: number[] };
  /** runc cgroups path of the container: `<pod cgroup parent>/crio-<id>` (cgroupfs) or `<slice>:crio:<id>` (systemd). */
  cgroupsPath?: string;
  /** Host file behind the termination-message path; read into `message` when the container exits. */
  terminationLogPath?: string;
  /**
   * Set when the CreateContainer caller had given up (deadline passed) before the create
   * finished: the container stays out of the list and status RPCs until the identical retry claims it, and
   * is removed if none comes (abandoned-creates.ts).
   */
  abandonedAtNs?: string;
}

/** Whether clients may see this container: false while it waits for the retry of a create whose caller gave up. */
export function isClaimed(record: ContainerRecord): boolean {
  return record.abandonedAtNs === undefined;
}

/** Current time in nanoseconds since the epoch, as stored in records. */
export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireFields(v: unknown, fields: Record<string, 'string' | 'number' | 'boolean' | 'object'>, kind: string): Record<string, unknown> {
  if (!isObject(v)) throw new Error(`${kind} record is not an object`);
  for (const [k, t] of Object.entries(fields)) {
    if (typeof v[k] !== t || v[k] === null) throw new Error(`${kind} record field ${k} is not a ${t}`);
  }
  return v;
}

/** Checks the shape of a parsed sandbox record. */
export function validateSandboxRecord(v: unknown): SandboxRecord {
  const r = requireFields(v, {
    version: 'number', id: 'string', reservedName: 'string', metadata: 'object', labels: 'object',
    annotations: 'object', state: 'string', createdAtNs: 'string', podDir: 'string', namespaces: 'object',
  }, 'sandbox');
  if (r.state !== 'ready' && r.state !== 'notready') throw new Error(`sandbox record state ${String(r.state)} is invalid`);
  return r as unknown as SandboxRecord;
}

/** Checks the shape of a parsed container record. */
export function validateContainerRecord(v: unknown): ContainerRecord {
  const r = requireFields(v, {
    version: 'number', id: 'string', podSandboxId: 'string', reservedName: 'string', metadata: 'object',
    image: 'object', state: 'string', createdAtNs: 'string', bundleDir: 'string', logPath: 'string',
  }, 'container');
  if (!['created', 'running', 'exited', 'unknown'].includes(String(r.state))) throw new Error(`container record state ${String(r.state)} is invalid`);
  return r as unknown as ContainerRecord;
}
