import { NamespaceMode, PodSandboxConfig, PodSandboxState, type PodSandbox, type PodSandboxStatus } from '../cri/gen/api';
import type { SandboxRecord } from '../state/records';
import { perRecordVersion } from './per-version';

/** The RunPodSandbox config kept in the record, as a typed message. */
export function sandboxConfig(record: SandboxRecord): PodSandboxConfig {
  return PodSandboxConfig.fromJSON(record.config);
}

function criState(record: SandboxRecord): PodSandboxState {
  return record.state === 'ready' ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
}

/** SandboxRecord → CRI PodSandbox (ListPodSandbox). */
export function toCriPodSandbox(record: SandboxRecord): PodSandbox {
  return {
    id: record.id,
    metadata: record.metadata,
    state: criState(record),
    createdAt: BigInt(record.createdAtNs),
    labels: record.labels,
    annotations: record.annotations,
    runtimeHandler: record.runtimeHandler,
  };
}

/** SandboxRecord → CRI PodSandboxStatus, made once per record version. Callers must not change the object. */
export const toCriPodSandboxStatus: (record: SandboxRecord) => PodSandboxStatus = perRecordVersion(makeCriPodSandboxStatus);

function makeCriPodSandboxStatus(record: SandboxRecord): PodSandboxStatus {
  const nsOptions = sandboxConfig(record).linux?.securityContext?.namespaceOptions;
  const [ip = '', ...additional] = record.ips;
  return {
    id: record.id,
    metadata: record.metadata,
    state: criState(record),
    createdAt: BigInt(record.createdAtNs),
    network: { ip, additionalIps: additional.map((a) => ({ ip: a })) },
    linux: {
      namespaces: {
        options: {
          network: nsOptions?.network ?? NamespaceMode.POD,
          pid: nsOptions?.pid ?? NamespaceMode.POD,
          ipc: nsOptions?.ipc ?? NamespaceMode.POD,
          targetId: nsOptions?.targetId ?? '',
          usernsOptions: undefined,
        },
      },
    },
    labels: record.labels,
    annotations: record.annotations,
    runtimeHandler: record.runtimeHandler,
  };
}
