import type { ReopenContainerLogRequest, ReopenContainerLogResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/**
 * ReopenContainerLog: after the kubelet renamed the log during rotation, conmon is told to open a
 * fresh file at the log path. Only running containers have a conmon to tell (CRI-O: "container is
 * not running").
 */
export async function reopenContainerLog(deps: ServerDeps, ctx: OpContext, req: ReopenContainerLogRequest): Promise<ReopenContainerLogResponse> {
  const record = findContainer(deps, req.containerId);
  if (record.state !== 'running') throw new FailedPreconditionError(`ReopenContainerLog: container ${record.id} is not running (it is ${record.state})`);
  const runtime = deps.runtimeFor(deps.sandboxes.get(record.podSandboxId).runtimeHandler);
  await runtime.reopenLog(record.id, record.logPath);
  withLogFields(ctx, { containerId: record.id }).log.info('container log reopened', { logPath: record.logPath });
  return {};
}
