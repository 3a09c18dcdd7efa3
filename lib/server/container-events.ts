import type { ContainerEventResponse, ContainerEventType, GetEventsRequest } from '../cri/gen/api';
import type { OpContext } from '../context';
import { isClaimed, type ContainerRecord, type SandboxRecord } from '../state/records';
import { toCriContainerStatus } from './container-convert';
import type { ServerDeps } from './deps';
import { toCriPodSandboxStatus } from './sandbox-convert';

/**
 * Container and pod lifecycle events for GetContainerEvents (the kubelet's evented PLEG). Each
 * event carries the pod's status and the statuses of its containers, as CRI-O sends them; pod
 * events use the pod ID as container ID. Unlike CRI-O, events are always on (CRI-O needs
 * `enable_pod_events`, and otherwise ends the stream at once, which users trip over).
 */

type Listener = (event: ContainerEventResponse) => void;

/** Events a stream may have queued before new ones are dropped (CRI-O's event channel holds 1000). */
export const MAX_PENDING_EVENTS = 1000;

/** Fan-out of events to the open GetContainerEvents streams. */
export class ContainerEventBus {
  private readonly listeners = new Set<Listener>();

  /** Registers a stream; returns its unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether any stream listens (events are only built then). */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  /** Delivers an event to every stream. */
  publish(event: ContainerEventResponse): void {
    for (const l of this.listeners) l(event);
  }
}

function buildEvent(
  deps: ServerDeps,
  containerId: string,
  type: ContainerEventType,
  pod: SandboxRecord,
  containers: ContainerRecord[],
): ContainerEventResponse {
  return {
    containerId,
    containerEventType: type,
    createdAt: BigInt(Date.now()) * 1_000_000n,
    podSandboxStatus: toCriPodSandboxStatus(pod),
    containersStatuses: containers.map(toCriContainerStatus),
  };
}

/** The pod's containers, as events list them (not those waiting for the retry of an abandoned create). */
export function podContainers(deps: ServerDeps, podSandboxId: string): ContainerRecord[] {
  return deps.containers.list().filter((c) => c.podSandboxId === podSandboxId && isClaimed(c));
}

/**
 * Publishes an event about a container. `gone` is the container's last record, for DELETED
 * events sent after the record is deleted.
 */
export function emitContainerEvent(deps: ServerDeps, containerId: string, type: ContainerEventType, gone?: ContainerRecord): void {
  if (!deps.events.listening) return;
  const record = deps.containers.find(containerId) ?? gone;
  const pod = record && deps.sandboxes.find(record.podSandboxId);
  // A container still waiting for the retry of its abandoned create is unknown to clients.
  if (!record || !pod || !isClaimed(record)) return;
  const containers = podContainers(deps, pod.id);
  if (gone && !containers.some((c) => c.id === gone.id)) containers.push(gone);
  deps.events.publish(buildEvent(deps, containerId, type, pod, containers));
}

/** Publishes an event about a pod (its ID stands in the containerId field, as in CRI-O). */
export function emitPodEvent(deps: ServerDeps, pod: SandboxRecord, type: ContainerEventType, containers: ContainerRecord[]): void {
  if (deps.events.listening) deps.events.publish(buildEvent(deps, pod.id, type, pod, containers));
}

/** GetContainerEvents: streams every event until the client goes away. */
export async function getContainerEvents(
  deps: ServerDeps,
  ctx: OpContext,
  _req: GetEventsRequest,
  send: (event: ContainerEventResponse) => Promise<void>,
): Promise<void> {
  let chain = Promise.resolve();
  let failed: unknown;
  let pending = 0;
  const unsubscribe = deps.events.subscribe((event) => {
    // A client that stopped reading must not make the daemon queue events without bound.
    if (pending >= MAX_PENDING_EVENTS) {
      deps.metrics.containerEventDropped();
      ctx.log.error('container event dropped: the client is not reading', { containerId: event.containerId, pending });
      return;
    }
    pending++;
    // Sends are chained so events arrive in order even when the stream applies backpressure.
    chain = chain
      .then(() => send(event))
      .catch((err: unknown) => {
        failed ??= err;
      })
      .finally(() => pending--);
  });
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) return resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    unsubscribe();
  }
  if (failed !== undefined && !ctx.signal.aborted) throw failed;
}
