import type { RemoveContainerRequest, RemoveContainerResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { InvalidArgumentError } from '../errors';
import type { ServerDeps } from './deps';
import { removeContainerRecord } from './container-ops';

/** RemoveContainer: force-stops a running container, then removes it; unknown IDs succeed (idempotent). */
export async function removeContainer(deps: ServerDeps, ctx: OpContext, req: RemoveContainerRequest): Promise<RemoveContainerResponse> {
  if (req.containerId === '') throw new InvalidArgumentError('RemoveContainer: container ID is empty');
  const id = deps.containers.resolveId(req.containerId);
  if (id === undefined) {
    ctx.log.info('remove of unknown container ignored', { containerId: req.containerId });
    return {};
  }
  const record = deps.containers.get(id);
  await removeContainerRecord(deps, record, withLogFields(ctx, { containerId: id, podSandboxId: record.podSandboxId }).log);
  return {};
}
