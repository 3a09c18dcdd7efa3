import type { CrioMetadata } from '../storage/container-records';

/**
 * What CRI-O writes for a container or pod in containers/storage's container store
 * (internal/storage/runtime.go createContainerOrPodSandbox): its names and its
 * RuntimeContainerMetadata, so `podman ps --external` shows them and podman, seeing the
 * metadata, leaves them alone.
 */

/** CRI-O's pod name for a sandbox: k8s_<name>_<namespace>_<uid>_<attempt> (the infra container is k8s_POD_…). */
export function podStorageName(reservedName: string): string {
  return reservedName.replace(/^k8s_POD_/, 'k8s_');
}

/** Names and metadata of a pod's infra container. */
export function infraStorageEntry(o: { podId: string; reservedName: string; metadata: { name: string; uid: string; namespace: string; attempt: number }; imageName: string; imageId: string }): { names: string[]; metadata: CrioMetadata } {
  const podName = podStorageName(o.reservedName);
  return {
    names: [...new Set([o.reservedName, podName])],
    metadata: {
      'pod-name': podName,
      'pod-id': o.podId,
      'image-name': o.imageName,
      'image-id': o.imageId,
      name: o.reservedName,
      'metadata-name': o.metadata.name,
      uid: o.metadata.uid,
      namespace: o.metadata.namespace,
      'created-at': Math.floor(Date.now() / 1000),
      ...(o.metadata.attempt ? { attempt: o.metadata.attempt } : {}),
      pod: true,
    },
  };
}

/** Names and metadata of a container. */
export function containerStorageEntry(o: { podId: string; podReservedName: string; reservedName: string; metadataName: string; attempt: number; imageName: string; imageId: string; privileged: boolean }): { names: string[]; metadata: CrioMetadata } {
  return {
    names: [o.reservedName],
    metadata: {
      'pod-name': podStorageName(o.podReservedName),
      'pod-id': o.podId,
      'image-name': o.imageName,
      'image-id': o.imageId,
      name: o.reservedName,
      'metadata-name': o.metadataName,
      'created-at': Math.floor(Date.now() / 1000),
      ...(o.attempt ? { attempt: o.attempt } : {}),
      ...(o.privileged ? { privileged: true } : {}),
    },
  };
}
