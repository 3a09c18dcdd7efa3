import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { ContainerState, NamespaceMode, PodSandboxState, Protocol } from '../../lib/cri/gen/api';
import { TEST_SLOT } from '../harness/slot';
import { layerStoreState } from '../integration/storage-fixtures';
import { codeName, type FaultFixture } from './fault-fixture';

/**
 * One scenario per CRI RPC the fault suite crashes: what the operation needs first, the
 * operation itself, the kubelet's retry after the restart, and what "took effect exactly once"
 * means for it. Setups never call the scenario's own RPC, so a daemon armed for that RPC's
 * fault points only dies inside the operation.
 */

/** What a scenario's steps share within one cycle. */
export interface Cycle {
  f: FaultFixture;
  /** Unique per cycle: names of pods and containers. */
  name: string;
  podId?: string;
  podCfg?: Record<string, unknown>;
  ctrId?: string;
  /** ID the retry returned (creates). */
  resultId?: string;
  /** Pod scenarios: give the pod an infra container (only the steps that need one do: it is slower). */
  infra?: boolean;
}

export interface Scenario {
  rpc: string;
  /** A pod scenario: its steps are traced with and without an infra container (Cycle.infra). */
  pod?: boolean;
  setup(c: Cycle): Promise<void>;
  op(c: Cycle): Promise<unknown>;
  /** The kubelet's retry: 'ok' or the gRPC code name it accepts. */
  retry(c: Cycle): Promise<string>;
  /** Violations of "took effect exactly once" after the retry. */
  check(c: Cycle): Promise<string[]>;
}

/** The faultpull image (busybox + two layers) the PullImage scenario pulls. */
export const PULL_IMAGE = 'faultpull';
/** The ExecSync scenario's command: outlives a restart, so an exec orphaned by the crash would be seen. */
const EXEC_CMD = ['sh', '-c', 'sleep 10; echo done'];
/** ExecSync's timeout (s): the command never finishes in time, as a hanging probe. */
const EXEC_TIMEOUT = 1n;

/**
 * Pods for the container scenarios have no infra container (PID mode CONTAINER) and use the
 * host's network (no CNI): quicker to make and remove. The pod scenarios crash those steps.
 */
const LEAN_POD = { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER, network: NamespaceMode.NODE } } } };

/**
 * The pod scenarios' pods: a network with a host port (the portmap plugin's ADD and DEL, and its
 * iptables rules, are crashed too) and, when the cycle asks, an infra container.
 */
function fullPod(c: Cycle): Record<string, unknown> {
  const ports = { portMappings: [{ protocol: Protocol.TCP, containerPort: 80, hostPort: 31000 + TEST_SLOT, hostIp: '127.0.0.1' }] };
  return c.infra ? ports : { ...ports, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
}

async function pod(c: Cycle, full = false): Promise<void> {
  c.podCfg = c.f.podConfig(c.name, full ? fullPod(c) : LEAN_POD);
  c.podId = (await c.f.daemon.cri.runtime.runPodSandbox({ config: c.podCfg })).podSandboxId;
}

async function ctr(c: Cycle, start: boolean, full = false): Promise<void> {
  await pod(c, full);
  const rt = c.f.daemon.cri.runtime;
  c.ctrId = (await rt.createContainer({ podSandboxId: c.podId, sandboxConfig: c.podCfg, config: c.f.ctrConfig(c.name) })).containerId;
  if (start) await rt.startContainer({ containerId: c.ctrId });
}

async function ctrState(c: Cycle): Promise<ContainerState | 'absent'> {
  const list = (await c.f.daemon.cri.runtime.listContainers({})).containers.filter((x) => x.id === c.ctrId);
  return list[0]?.state ?? 'absent';
}

function expect(what: string, got: unknown, want: unknown): string[] {
  return got === want ? [] : [`${what}: ${String(got)}, want ${String(want)}`];
}

const createPod = (c: Cycle) => c.f.daemon.cri.runtime.runPodSandbox({ config: c.podCfg });
const createCtr = (c: Cycle) => c.f.daemon.cri.runtime.createContainer({ podSandboxId: c.podId, sandboxConfig: c.podCfg, config: c.f.ctrConfig(c.name) });

export const SCENARIOS: Scenario[] = [
  {
    rpc: 'RunPodSandbox',
    pod: true,
    setup: async (c) => {
      c.podCfg = c.f.podConfig(c.name, fullPod(c));
    },
    op: createPod,
    retry: async (c) => codeName(createPod(c).then((r) => (c.resultId = r.podSandboxId))),
    check: async (c) => {
      const pods = (await c.f.daemon.cri.runtime.listPodSandbox({})).items.filter((p) => p.metadata?.name === c.name);
      return [...expect('pods with the name', pods.length, 1), ...expect('its state', pods[0]?.state, PodSandboxState.SANDBOX_READY), ...expect('the ID the retry got', pods[0]?.id, c.resultId)];
    },
  },
  {
    rpc: 'CreateContainer',
    setup: pod,
    op: createCtr,
    retry: async (c) => codeName(createCtr(c).then((r) => (c.resultId = r.containerId))),
    check: async (c) => {
      const list = (await c.f.daemon.cri.runtime.listContainers({ filter: { podSandboxId: c.podId } })).containers;
      return [...expect('containers in the pod', list.length, 1), ...expect('its state', list[0]?.state, ContainerState.CONTAINER_CREATED), ...expect('the ID the retry got', list[0]?.id, c.resultId)];
    },
  },
  {
    rpc: 'StartContainer',
    setup: (c) => ctr(c, false),
    op: (c) => c.f.daemon.cri.runtime.startContainer({ containerId: c.ctrId }),
    // A start that took effect before the crash is refused as "already running" (CRI-O's answer too).
    retry: (c) => codeName(c.f.daemon.cri.runtime.startContainer({ containerId: c.ctrId })),
    check: async (c) => expect('container state', await ctrState(c), ContainerState.CONTAINER_RUNNING),
  },
  {
    rpc: 'StopContainer',
    setup: (c) => ctr(c, true),
    op: (c) => c.f.daemon.cri.runtime.stopContainer({ containerId: c.ctrId, timeout: 10n }),
    retry: (c) => codeName(c.f.daemon.cri.runtime.stopContainer({ containerId: c.ctrId, timeout: 10n })),
    check: async (c) => expect('container state', await ctrState(c), ContainerState.CONTAINER_EXITED),
  },
  {
    rpc: 'RemoveContainer',
    setup: async (c) => {
      await ctr(c, true);
      await c.f.daemon.cri.runtime.stopContainer({ containerId: c.ctrId, timeout: 10n });
    },
    op: (c) => c.f.daemon.cri.runtime.removeContainer({ containerId: c.ctrId }),
    retry: (c) => codeName(c.f.daemon.cri.runtime.removeContainer({ containerId: c.ctrId })),
    check: async (c) => expect('container', await ctrState(c), 'absent'),
  },
  {
    rpc: 'StopPodSandbox',
    pod: true,
    setup: (c) => ctr(c, true, true),
    op: (c) => c.f.daemon.cri.runtime.stopPodSandbox({ podSandboxId: c.podId }),
    retry: (c) => codeName(c.f.daemon.cri.runtime.stopPodSandbox({ podSandboxId: c.podId })),
    check: async (c) => {
      const st = (await c.f.daemon.cri.runtime.podSandboxStatus({ podSandboxId: c.podId })).status?.state;
      return [...expect('pod state', st, PodSandboxState.SANDBOX_NOTREADY), ...expect('container state', await ctrState(c), ContainerState.CONTAINER_EXITED)];
    },
  },
  {
    rpc: 'RemovePodSandbox',
    pod: true,
    setup: async (c) => {
      await ctr(c, true, true);
      await c.f.daemon.cri.runtime.stopPodSandbox({ podSandboxId: c.podId });
    },
    op: (c) => c.f.daemon.cri.runtime.removePodSandbox({ podSandboxId: c.podId }),
    retry: (c) => codeName(c.f.daemon.cri.runtime.removePodSandbox({ podSandboxId: c.podId })),
    check: async (c) => {
      const pods = (await c.f.daemon.cri.runtime.listPodSandbox({})).items.filter((p) => p.id === c.podId);
      return [...expect('pods', pods.length, 0), ...expect('container', await ctrState(c), 'absent')];
    },
  },
  {
    rpc: 'PullImage',
    setup: async (c) => {
      await codeName(c.f.daemon.cri.image.removeImage({ image: { image: PULL_IMAGE } }));
    },
    op: (c) => c.f.daemon.cri.image.pullImage({ image: { image: PULL_IMAGE } }),
    retry: (c) => codeName(c.f.daemon.cri.image.pullImage({ image: { image: PULL_IMAGE } })),
    check: async (c) => {
      const images = (await c.f.daemon.cri.image.listImages({})).images.filter((i) => i.repoTags.some((t) => t.includes(`/${PULL_IMAGE}:`)));
      const st = await layerStoreState(path.join(c.f.daemon.dir, 'root'));
      return [
        ...expect('images with the tag', images.length, 1),
        ...st.incomplete.map((l) => `incomplete layer ${l} left`),
        ...st.danglingLinks.map((l) => `dangling layer link ${l}`),
      ];
    },
  },
  {
    rpc: 'ExecSync',
    setup: (c) => ctr(c, true),
    // Times out (exit -1, as a probe that hangs): the killed exec must not outlive the crash.
    op: (c) => c.f.daemon.cri.runtime.execSync({ containerId: c.ctrId, cmd: EXEC_CMD, timeout: EXEC_TIMEOUT }),
    retry: async (c) => {
      const r = await c.f.daemon.cri.runtime.execSync({ containerId: c.ctrId, cmd: EXEC_CMD, timeout: EXEC_TIMEOUT }).catch((err: ServiceError) => err);
      return 'exitCode' in r ? `ok (exit ${r.exitCode})` : (status[r.code] ?? String(r));
    },
    check: async (c) => expect('container state', await ctrState(c), ContainerState.CONTAINER_RUNNING),
  },
];
