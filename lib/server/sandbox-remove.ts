import { promises as fs } from 'node:fs';
import type { RemovePodSandboxRequest, RemovePodSandboxResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import type { ServerDeps } from './deps';
import { removeContainerRecord } from './container-ops';
import { removeSandboxCgroup } from './sandbox-cgroup';
import { removeInfraContainer } from './sandbox-infra';
import { stopPodSandbox } from './sandbox-stop';
import { faultPoint } from '../fault-points';

/** RemovePodSandbox: stops the pod if needed, removes its containers, files and record. Idempotent. */
export async function removePodSandbox(deps: ServerDeps, ctx: OpContext, req: RemovePodSandboxRequest): Promise<RemovePodSandboxResponse> {
  const id = deps.sandboxes.resolveId(req.podSandboxId);
  if (id === undefined) {
    ctx.log.info('remove of unknown pod sandbox ignored', { podSandboxId: req.podSandboxId });
    return {};
  }
  const log = withLogFields(ctx, { podSandboxId: id }).log;
  await stopPodSandbox(deps, ctx, { podSandboxId: id });
  for (const c of deps.containers.list().filter((r) => r.podSandboxId === id)) {
    await removeContainerRecord(deps, c, log);
  }
  faultPoint('sandbox-remove:containers-removed');
  const record = deps.sandboxes.get(id);
  await removeInfraContainer(deps, record);
  await removeSandboxCgroup(record);
  faultPoint('sandbox-remove:infra-removed');
  await fs.rm(record.podDir, { recursive: true, force: true });
  faultPoint('sandbox-remove:pod-dir-removed');
  await deps.sandboxes.delete(id);
  faultPoint('sandbox-remove:recorded');
  deps.podNames.release(record.reservedName, id);
  deps.podGate.forget(id);
  log.info('pod sandbox removed');
  return {};
}
