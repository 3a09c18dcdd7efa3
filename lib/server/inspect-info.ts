import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ServerDeps } from './deps';
import type { ContainerView, SandboxView } from './records-in-creation';

/**
 * The documents of CRI-O's inspect API (server/inspect.go, pkg/types), with its JSON field
 * names and types: cAdvisor's CRI-O plugin decodes /info to label the image filesystem and
 * /containers/<id> to map a `crio-<id>` cgroup to its pod and container; `crio status` prints
 * them.
 */

/** containers/storage's idtools.IDMap as JSON. */
export interface IdMapJson {
  container_id: number;
  host_id: number;
  size: number;
}

/** GET /info. */
export interface CrioInfo {
  storage_driver: string;
  storage_image: string;
  storage_root: string;
  cgroup_driver: string;
  default_id_mappings: { uids: IdMapJson[]; gids: IdMapJson[] };
}

/** GET /containers/<id>; `created_time` is int64 nanoseconds (a bigint here, so no digit is lost). */
export interface ContainerInfo {
  name: string;
  pid: number;
  image: string;
  image_ref: string;
  created_time: bigint;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  crio_annotations: Record<string, string>;
  log_path: string;
  root: string;
  sandbox: string;
  ip_addresses: string[];
  host_network: boolean;
}

/** Where images are kept (daemon.ts imageStorageInfo). */
export interface ImageStorage {
  driver: string;
  root: string;
  imageStore: string;
}

/** CRI-O's mapping when no default ID mappings are configured: the whole 32-bit range onto itself. */
const IDENTITY: IdMapJson = { container_id: 0, host_id: 0, size: 4294967295 };

/** The /info document. */
export function crioInfo(deps: ServerDeps, storage: ImageStorage): CrioInfo {
  return {
    storage_driver: storage.driver,
    storage_image: storage.imageStore,
    storage_root: storage.root,
    cgroup_driver: deps.config.runtime.cgroup_manager,
    default_id_mappings: { uids: [IDENTITY], gids: [IDENTITY] },
  };
}

/** The kubelet's container-name label: cAdvisor reports the network of the container named POD as the pod's. */
const CONTAINER_NAME_LABEL = 'io.kubernetes.container.name';
const INFRA_CONTAINER_NAME = 'POD';

/** The OCI spec annotations CRI-O keeps as `crio_annotations` (read from the bundle; {} if it is gone). */
async function specAnnotations(bundleDir: string): Promise<Record<string, string>> {
  try {
    const spec = JSON.parse(await fs.readFile(path.join(bundleDir, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
    return spec.annotations ?? {};
  } catch {
    return {};
  }
}

function containerInfo(record: ContainerView, pod: SandboxView, crioAnnotations: Record<string, string>): ContainerInfo {
  return {
    name: record.reservedName,
    pid: record.pid,
    image: record.image.name ?? record.image.requested,
    image_ref: record.image.ref || record.image.id,
    created_time: BigInt(record.createdAtNs),
    labels: record.labels,
    annotations: record.annotations,
    crio_annotations: crioAnnotations,
    log_path: record.logPath,
    root: record.rootfs,
    sandbox: pod.id,
    ip_addresses: pod.ips,
    host_network: pod.hostNetwork,
  };
}

/**
 * The pod's own entry (CRI-O's infra container, spoofed when the infra container is dropped):
 * cAdvisor finds it through the `crio-<pod id>` cgroup and takes the pod's network counters from
 * its PID, so without an infra process the PID of a running container of the pod is given.
 * Without an infra rootfs, `root` is the pod directory, whose `diff` cAdvisor measures.
 */
async function podInfo(deps: ServerDeps, pod: SandboxView): Promise<ContainerInfo> {
  const running = deps.containers.list().find((c) => c.podSandboxId === pod.id && c.state === 'running' && c.pid > 0);
  const infra = pod.infra;
  const annotations = infra ? await specAnnotations(infra.bundleDir) : {};
  return {
    name: pod.reservedName,
    pid: infra && infra.pid > 0 ? infra.pid : (running?.pid ?? 0),
    image: infra ? deps.config.image.pause_image : '',
    image_ref: infra ? infra.image : '',
    created_time: BigInt(pod.createdAtNs),
    labels: { ...pod.labels, [CONTAINER_NAME_LABEL]: INFRA_CONTAINER_NAME },
    annotations: pod.annotations,
    crio_annotations: {
      'io.kubernetes.cri-o.ContainerType': 'sandbox',
      'io.kubernetes.cri-o.SandboxID': pod.id,
      'io.kubernetes.cri-o.Name': pod.reservedName,
      'io.kubernetes.cri-o.KubeName': pod.metadata.name,
      'io.kubernetes.cri-o.Namespace': pod.metadata.namespace,
      'io.kubernetes.cri-o.HostName': pod.hostname,
      'io.kubernetes.cri-o.HostNetwork': String(pod.hostNetwork),
      'io.kubernetes.cri-o.Labels': JSON.stringify(pod.labels),
      'io.kubernetes.cri-o.Annotations': JSON.stringify(pod.annotations),
      ...(infra ? {} : { 'io.kubernetes.cri-o.Spoofed': 'true' }),
      ...annotations,
    },
    log_path: infra ? path.join(pod.podDir, 'infra.log') : '',
    root: infra ? deps.containerLayers.rootfs(pod.id) : pod.podDir,
    sandbox: pod.id,
    ip_addresses: pod.ips,
    host_network: pod.hostNetwork,
  };
}

/**
 * The /containers/<id> document for a container or a pod (exact ID or unique prefix; also while
 * it is being created), or the not-found text CRI-O answers with.
 */
export async function lookupContainerInfo(deps: ServerDeps, id: string): Promise<ContainerInfo | { notFound: string }> {
  if (id === '') return { notFound: "can't find the container with id " };
  const ctrId = deps.containers.resolveId(id);
  const container = ctrId === undefined ? deps.creating.containers.get(id) : deps.containers.get(ctrId);
  if (container) {
    const pod = deps.sandboxes.find(container.podSandboxId) ?? deps.creating.sandboxes.get(container.podSandboxId);
    if (!pod) return { notFound: `can't find the sandbox for container id ${id}` };
    return containerInfo(container, pod, await specAnnotations(container.bundleDir));
  }
  const podId = deps.sandboxes.resolveId(id);
  const pod = podId === undefined ? deps.creating.sandboxes.get(id) : deps.sandboxes.get(podId);
  if (pod) return podInfo(deps, pod);
  return { notFound: `can't find the container with id ${id}` };
}

/** JSON text of a flat document; top-level bigints are written as plain integers (Go decodes int64 exactly, a JS number would round). */
export function toJson(doc: object): string {
  const fields = Object.entries(doc).map(([k, v]: [string, unknown]) => `${JSON.stringify(k)}:${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`);
  return `{${fields.join(',')}}`;
}
