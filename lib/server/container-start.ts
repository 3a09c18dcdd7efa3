import { ContainerEventType, type StartContainerRequest, type StartContainerResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import { nowNs } from '../state/records';
import { emitContainerEvent } from './container-events';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';
import { faultPoint } from '../fault-points';

/** StartContainer: created → running (`runc start`). */
export async function startContainer(deps: ServerDeps, ctx: OpContext, req: StartContainerRequest): Promise<StartContainerResponse> {
  const record = findContainer(deps, req.containerId);
  const log = withLogFields(ctx, { containerId: record.id, podSandboxId: record.podSandboxId }).log;
  if (record.state !== 'created') {
    throw new FailedPreconditionError(`StartContainer: container ${record.id} is ${record.state}, it must be created`);
  }
  const pod = deps.sandboxes.get(record.podSandboxId);
  if (pod.state !== 'ready') throw new FailedPreconditionError(`StartContainer: pod sandbox ${pod.id} is not ready (it was stopped)`);
  // Refused once the pod's stop has begun; a stop beginning meanwhile waits for this start, then stops the container.
  await deps.podGate.run(pod.id, 'StartContainer', async () => {
    const runtime = deps.runtimeFor(pod.runtimeHandler);
    // Taken before `runc start`: the process cannot have started (or exited) earlier.
    const startedNs = nowNs();
    try {
      await runtime.startContainer(record.id);
      faultPoint('container-start:runtime-started');
    } catch (err) {
      // CRI-O records why the start failed so ContainerStatus explains it.
      await deps.containers.update(record.id, (r) => ({
        ...r,
        state: 'exited',
        reason: 'StartError',
        message: err instanceof Error ? err.message : String(err),
        exitCode: 128,
        finishedAtNs: nowNs(),
      }));
      throw err;
    }
    await deps.containers.update(record.id, (r) => ({
      ...r,
      state: r.state === 'created' ? 'running' : r.state,
      // A short-lived process may already have been recorded as exited (exit file mtimes are coarse).
      startedAtNs: r.state === 'exited' && BigInt(r.finishedAtNs) < BigInt(startedNs) ? r.finishedAtNs : startedNs,
    }));
  });
  faultPoint('container-start:recorded');
  log.info('container started', { pid: record.pid });
  emitContainerEvent(deps, record.id, ContainerEventType.CONTAINER_STARTED_EVENT);
  return {};
}
