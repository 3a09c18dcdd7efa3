import type { ContainerRecord, SandboxRecord } from '../state/records';

/**
 * Pods and containers whose create is under way. Their cgroups exist before their records do
 * (runc makes a container's during `runc create`, RunPodSandbox makes a pod's first), and
 * cAdvisor asks the inspect API about a new `crio-<id>` cgroup the moment it appears: CRI-O
 * knows its containers from the start of a create, so crio-ts answers from these early views
 * until the records are written (a 404 would leave the container out of the kubelet's stats
 * until cAdvisor's next full scan, a minute later).
 */

/** What the inspect API needs of a container. */
export type ContainerView = Pick<
  ContainerRecord,
  'id' | 'reservedName' | 'pid' | 'image' | 'createdAtNs' | 'labels' | 'annotations' | 'logPath' | 'rootfs' | 'bundleDir' | 'podSandboxId' | 'state'
>;

/** What the inspect API needs of a pod. */
export type SandboxView = Pick<
  SandboxRecord,
  'id' | 'reservedName' | 'metadata' | 'labels' | 'annotations' | 'createdAtNs' | 'hostname' | 'hostNetwork' | 'podDir' | 'ips' | 'infra'
>;

/** The early views, keyed by ID; each create removes its own when it ends, however it ends. */
export class RecordsInCreation {
  readonly containers = new Map<string, ContainerView>();
  readonly sandboxes = new Map<string, SandboxView>();
}
