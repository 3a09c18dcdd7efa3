import { promises as fs } from 'node:fs';
import path from 'node:path';
import { cgroupParentPath, CRIO_PREFIX } from '../oci/cgroup-systemd';
import { createCgroup, removeCgroup } from '../oci/cgroupfs';
import type { SandboxRecord } from '../state/records';

/**
 * A pod without an infra container still gets an (empty) `crio-<pod id>` cgroup under its
 * parent, as CRI-O creates for a dropped infra container (CreateSandboxCgroup): cAdvisor knows a
 * pod's network only through that cgroup (the kubelet reports the network of the container it
 * labels POD), and measures the `diff` directory under the `root` the inspect API gives for it,
 * the pod directory until there is an infra rootfs. Both go with the pod.
 */

/** The cgroup directory (relative to each hierarchy) of a pod without an infra container. */
export function sandboxCgroupPath(pod: Pick<SandboxRecord, 'id' | 'cgroupParent'>): string {
  return path.posix.join(cgroupParentPath(pod.cgroupParent), `${CRIO_PREFIX}-${pod.id}`);
}

/**
 * The empty `diff` in the pod directory: cAdvisor measures it for every pod until the pod has an
 * infra rootfs (and keeps the first answer), so it is made before the pod's first cgroup exists.
 */
export async function createPodDiffDir(podDir: string): Promise<void> {
  await fs.mkdir(path.join(podDir, 'diff'), { recursive: true, mode: 0o755 });
}

/** Creates the cgroup of a pod without an infra container. */
export async function createSandboxCgroup(pod: Pick<SandboxRecord, 'id' | 'cgroupParent'>): Promise<void> {
  await createCgroup(sandboxCgroupPath(pod));
}

/** Removes the pod's cgroup; idempotent (the pod directory goes with the pod). */
export async function removeSandboxCgroup(pod: Pick<SandboxRecord, 'id' | 'cgroupParent' | 'infra'>): Promise<void> {
  if (pod.infra) return; // runc removes the infra container's own cgroup
  await removeCgroup(sandboxCgroupPath(pod));
}
