import type { ExecRequest, ExecResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import type { OciRuntime } from '../oci/runtime';
import type { StreamRuntime } from '../streaming/runtime';
import type { StreamingServer } from '../streaming/server';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/**
 * Exec: checks that the container runs and hands out a single-use streaming URL; the command
 * starts once the client connects (execInContainer). Like CRI-O, the session's process is
 * killed when the client goes away or the container exits.
 */
export async function exec(deps: ServerDeps, streaming: StreamingServer, _ctx: OpContext, req: ExecRequest): Promise<ExecResponse> {
  const record = findContainer(deps, req.containerId);
  if (record.state !== 'running') throw new FailedPreconditionError(`Exec: container ${record.id} is ${record.state}, not running`);
  return { url: streaming.execUrl({ ...req, containerId: record.id }) };
}

/** An abort signal that fires with `parent` or when the container's exit is recorded. */
function untilContainerExits(runtime: OciRuntime, containerId: string, parent: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  parent.addEventListener('abort', abort, { once: true });
  const unwatch = runtime.watchExits((id) => {
    if (id === containerId) abort();
  });
  // An exit recorded before the watch started produces no event.
  runtime.readExitFile(containerId).then((exit) => exit && abort(), () => undefined);
  return {
    signal: ac.signal,
    dispose: () => {
      unwatch();
      parent.removeEventListener('abort', abort);
    },
  };
}

/** The streaming side of Exec: runs the command with the client's streams; resolves with its exit code. */
export function execInContainer(deps: ServerDeps): StreamRuntime['exec'] {
  return async (req, io) => {
    const record = findContainer(deps, req.containerId);
    if (record.state !== 'running') throw new FailedPreconditionError(`container ${record.id} is ${record.state}, not running`);
    const runtime = deps.runtimeFor(deps.sandboxes.get(record.podSandboxId).runtimeHandler);
    const scope = untilContainerExits(runtime, record.id, io.signal);
    const log = io.log.child({ containerId: record.id, podSandboxId: record.podSandboxId });
    try {
      const started = Date.now();
      const exitCode = await runtime.execStream(record.id, { cmd: req.cmd, tty: req.tty }, io, { log, signal: scope.signal });
      log.debug('exec session ended', { exitCode, aborted: scope.signal.aborted, durationMs: Date.now() - started });
      return exitCode;
    } finally {
      scope.dispose();
    }
  };
}
