import type { StopContainerRequest, StopContainerResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import type { ServerDeps } from './deps';
import { stopContainerRecord } from './container-ops';
import { findContainer } from './lookup';

/** StopContainer: stop signal, then SIGKILL after `timeout` seconds; idempotent. */
export async function stopContainer(deps: ServerDeps, ctx: OpContext, req: StopContainerRequest): Promise<StopContainerResponse> {
  const record = findContainer(deps, req.containerId);
  const log = withLogFields(ctx, { containerId: record.id, podSandboxId: record.podSandboxId }).log;
  await stopContainerRecord(deps, record, Math.max(0, Number(req.timeout)), log);
  return {};
}
