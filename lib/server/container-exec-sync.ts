import type { ExecSyncRequest, ExecSyncResponse } from '../cri/gen/api';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';
import { checkArgs, checkNoNulBytes } from './request-rules';

/**
 * The `tty` of a container's stored config (proto JSON, where ContainerConfig.fromJSON reads any
 * truthy value as true), read without decoding the whole config on every probe.
 */
function configTty(config: unknown): boolean {
  return typeof config === 'object' && config !== null && Boolean((config as { tty?: unknown }).tty);
}

/**
 * ExecSync: runs a command in a running container and returns its output and exit code. A
 * timeout is not an RPC error: exit code -1 and "command timed out" (CRI-O's contract, so
 * kubelet probes fail instead of erroring). Each stream is capped at 16 MiB. Refused, as in CRI-O,
 * for containers that are not running (NotFound) and once a stop has reached SIGKILL.
 */
export async function execSync(deps: ServerDeps, ctx: OpContext, req: ExecSyncRequest): Promise<ExecSyncResponse> {
  if (req.cmd.length === 0) throw new InvalidArgumentError('ExecSync: cmd is empty');
  checkArgs('ExecSync: cmd', req.cmd);
  checkNoNulBytes('ExecSync: cmd', req.cmd);
  const record = findContainer(deps, req.containerId);
  if (record.state !== 'running') throw new NotFoundError(`ExecSync: container ${record.id} is not running (it is ${record.state})`);
  const pod = deps.sandboxes.get(record.podSandboxId);
  const runtime = deps.runtimeFor(pod.runtimeHandler);
  if (runtime.isBeingKilled(record.id)) throw new FailedPreconditionError(`ExecSync: cannot exec in container ${record.id}: it is being killed`);
  if (req.timeout < 0n) throw new InvalidArgumentError(`ExecSync: timeout ${req.timeout} is negative`);
  const out = await runtime.execSync(
    record.id,
    // Like CRI-O, a tty container's exec gets a terminal too (through conmon, which owns the pty).
    { cmd: req.cmd, timeoutSec: Number(req.timeout), tty: configTty(record.config) },
    withLogFields(ctx, { containerId: record.id, podSandboxId: record.podSandboxId }),
  );
  return { stdout: out.stdout, stderr: out.stderr, exitCode: out.exitCode };
}
