import { promises as fs } from 'node:fs';
import { InternalError } from '../errors';
import { runProgram, stderrTail } from '../process';

/** Per filesystem: the sync running now, and the one queued to start after it. */
interface DeviceSyncs {
  running: Promise<void> | undefined;
  queued: Promise<void> | undefined;
}

const devices = new Map<number, DeviceSyncs>();

/**
 * syncfs(2) of the filesystem holding `p`, through coreutils `sync -f`: Node has no syncfs, and
 * one call beats an fsync per file. Callers on one filesystem share syncs: a caller needs a
 * sync that starts after its call, so it joins the queued one, or queues one behind the sync
 * running now (which may have started before its writes). Layers unpacked side by side then
 * cost one or two syncs, not one each.
 */
export async function syncFilesystem(p: string): Promise<void> {
  const dev = (await fs.stat(p)).dev;
  let d = devices.get(dev);
  if (!d) {
    d = { running: undefined, queued: undefined };
    devices.set(dev, d);
  }
  const state = d;
  if (state.queued) return state.queued;
  const start = (): Promise<void> => {
    const run = runSync(p).finally(() => {
      if (state.running === run) state.running = undefined;
      if (!state.running && !state.queued) devices.delete(dev);
    });
    state.running = run;
    return run;
  };
  if (!state.running) return start();
  const queued = state.running
    .catch(() => undefined)
    .then(() => {
      state.queued = undefined;
      return start();
    });
  state.queued = queued;
  return queued;
}

async function runSync(p: string): Promise<void> {
  const res = await runProgram('sync', ['-f', p], { timeoutMs: 600_000 });
  if (res.exitCode !== 0) throw new InternalError(`sync -f ${p} failed: ${stderrTail(res)}`);
}
