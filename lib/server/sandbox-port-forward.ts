import type { PortForwardRequest, PortForwardResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import type { SandboxRecord } from '../state/records';
import { forwardToPort } from '../streaming/netns-forward';
import type { StreamRuntime } from '../streaming/runtime';
import type { StreamingServer } from '../streaming/server';
import type { ServerDeps } from './deps';
import { findSandbox } from './lookup';

/**
 * PortForward: hands out a streaming URL for a ready pod; each forwarded connection then reaches
 * 127.0.0.1:<port> inside the pod's network namespace (lib/streaming/netns-forward.ts).
 */
export async function portForward(deps: ServerDeps, streaming: StreamingServer, _ctx: OpContext, req: PortForwardRequest): Promise<PortForwardResponse> {
  const pod = readyPod(deps, req.podSandboxId);
  return { url: streaming.portForwardUrl({ ...req, podSandboxId: pod.id }) };
}

function readyPod(deps: ServerDeps, podSandboxId: string): SandboxRecord {
  const pod = findSandbox(deps, podSandboxId);
  if (pod.state !== 'ready') throw new FailedPreconditionError(`PortForward: pod sandbox ${pod.id} is not ready`);
  if (!pod.hostNetwork && pod.namespaces.net === undefined) throw new FailedPreconditionError(`PortForward: pod sandbox ${pod.id} has no network namespace`);
  return pod;
}

/** The streaming side of PortForward: one relayed connection. */
export function forwardPortInSandbox(deps: ServerDeps): StreamRuntime['portForward'] {
  return async (podSandboxId, port, stream, signal) => {
    const pod = readyPod(deps, podSandboxId);
    await forwardToPort(pod.hostNetwork ? undefined : pod.namespaces.net, port, stream, signal);
  };
}
