import type { ExecSyncRequest, ExecSyncResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/**
 * ExecSync: runs a command in a running container and returns its output and exit code. A
 * timeout is not an RPC error: exit code -1 and "command timed out" (CRI-O's contract, so
 * kubelet probes fail instead of erroring).
 */
export async function execSync(deps: ServerDeps, ctx: OpContext, req: ExecSyncRequest): Promise<ExecSyncResponse> {
  if (req.cmd.length === 0) throw new InvalidArgumentError('ExecSync: cmd is empty');
  const record = findContainer(deps, req.containerId);
  if (record.state !== 'running') throw new FailedPreconditionError(`ExecSync: container ${record.id} is ${record.state}, not running`);
  const pod = deps.sandboxes.get(record.podSandboxId);
  const out = await deps.runtimeFor(pod.runtimeHandler).execSync(
    record.id,
    { cmd: req.cmd, timeoutSec: Number(req.timeout) },
    withLogFields(ctx, { containerId: record.id, podSandboxId: record.podSandboxId }),
  );
  return { stdout: out.stdout, stderr: out.stderr, exitCode: out.exitCode };
}
