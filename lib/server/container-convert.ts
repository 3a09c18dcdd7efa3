import { ContainerConfig, ContainerState, type Container, type ContainerStatus, type ImageSpec } from '../cri/gen/api';
import type { ContainerRecord } from '../state/records';
import { perRecordVersion } from './per-version';

const STATE: Record<ContainerRecord['state'], ContainerState> = {
  created: ContainerState.CONTAINER_CREATED,
  running: ContainerState.CONTAINER_RUNNING,
  exited: ContainerState.CONTAINER_EXITED,
  unknown: ContainerState.CONTAINER_UNKNOWN,
};

/** The CreateContainer config kept in the record, as a typed message. */
export function containerConfig(record: ContainerRecord): ContainerConfig {
  return ContainerConfig.fromJSON(record.config);
}

/** ContainerRecord state → CRI enum. */
export function criContainerState(record: ContainerRecord): ContainerState {
  return STATE[record.state];
}

/** What the container was created from: the name reported to the kubelet (a tag, not the ID it sent) and the request as made. */
function imageSpec(record: ContainerRecord): ImageSpec {
  return {
    image: record.image.name ?? record.image.requested,
    annotations: {},
    userSpecifiedImage: record.image.requested,
    runtimeHandler: '',
    imageRef: record.image.ref || record.image.id,
  };
}

/** ContainerRecord → CRI Container (ListContainers). */
export function toCriContainer(record: ContainerRecord): Container {
  return {
    id: record.id,
    podSandboxId: record.podSandboxId,
    metadata: record.metadata,
    image: imageSpec(record),
    imageRef: record.image.ref || record.image.id,
    state: STATE[record.state],
    createdAt: BigInt(record.createdAtNs),
    labels: record.labels,
    annotations: record.annotations,
    imageId: record.image.id,
  };
}

/**
 * ContainerRecord → CRI ContainerStatus, made once per record version (records are immutable;
 * ContainerConfig.fromJSON alone costs more than the rest of a ContainerStatus call). Callers
 * must not change the object.
 */
export const toCriContainerStatus: (record: ContainerRecord) => ContainerStatus = perRecordVersion(makeCriContainerStatus);

function makeCriContainerStatus(record: ContainerRecord): ContainerStatus {
  const cfg = containerConfig(record);
  return {
    id: record.id,
    metadata: record.metadata,
    state: STATE[record.state],
    createdAt: BigInt(record.createdAtNs),
    startedAt: BigInt(record.startedAtNs),
    finishedAt: BigInt(record.finishedAtNs),
    exitCode: record.exitCode,
    image: imageSpec(record),
    imageRef: record.image.ref || record.image.id,
    reason: record.reason,
    message: record.message,
    labels: record.labels,
    annotations: record.annotations,
    mounts: cfg.mounts,
    logPath: record.logPath,
    resources: cfg.linux?.resources ? { linux: cfg.linux.resources, windows: undefined } : undefined,
    user: record.user && {
      linux: { uid: BigInt(record.user.uid), gid: BigInt(record.user.gid), supplementalGroups: record.user.supplementalGroups.map((g) => BigInt(g)) },
    },
    imageId: record.image.id,
    stopSignal: cfg.stopSignal,
  };
}
