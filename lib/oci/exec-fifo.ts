import { constants as fsc, promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, errnoCode } from '../errors';
import { sameProcessAlive } from './pids';

/**
 * `runc start` done in-process. A created runc container's init waits in open(2) of the write
 * end of `<runc root>/<id>/exec.fifo`; `runc start` only opens the read end, reads the byte init
 * then writes until EOF (init's end is close-on-exec, so EOF means the user process was exec'd),
 * and removes the FIFO, which makes runc report the container running. Doing that here saves a
 * runc process (a Go binary's start-up) per StartContainer: p50 71 -> 12 ms on the 2-core test VM
 * under load. The protocol is the same in runc 1.0 to 1.3. Only for runc: other runtimes (crun)
 * use the FIFO the other way round.
 */

/** Path of runc's exec FIFO of a container; it exists from `runc create` until the start. */
export function execFifoPath(runtimeRoot: string, containerId: string): string {
  return path.join(runtimeRoot, containerId, 'exec.fifo');
}

/** True when `<runtime> --version` output is runc's and the runc starts through its exec FIFO (1.0 and later). */
export function usesRuncExecFifo(versionOutput: string): boolean {
  const m = /^runc version (\d+)\.(\d+)/m.exec(versionOutput);
  return m !== null && Number(m[1]) >= 1;
}

/** The container's init process, as the runtime driver knows it (PID plus start time against PID reuse). */
export interface InitProcess {
  pid: number;
  startTime?: string;
}

/**
 * Starts a created runc container through its exec FIFO. Returns false, having done nothing, when
 * there is no FIFO (the container is not in state created, or not runc's): the caller then runs
 * `runc start`, whose error says why. Throws InternalError when init died before the start.
 */
export async function startThroughExecFifo(fifo: string, init: InitProcess, pollMs = 100): Promise<boolean> {
  try {
    if (!(await fs.lstat(fifo)).isFIFO()) return false;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  // The open returns once init has its end open, which it is waiting to do. If init is dead nobody
  // ever will, so a watchdog then opens a writer itself: the open returns and the empty read says so.
  let released = false;
  const watchdog = setInterval(() => {
    void sameProcessAlive(init.pid, init.startTime)
      .then(async (alive) => {
        if (alive || released) return;
        // Fails (ENXIO) while our open has not reached the kernel yet: the next tick tries again.
        const writer = await fs.open(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
        released = true;
        await writer.close();
      })
      .catch(() => undefined);
  }, pollMs);
  let data: Buffer;
  try {
    const fh = await fs.open(fifo, fsc.O_RDONLY);
    try {
      // Removed at once (the open file stays usable): from here on runc reports the container running.
      await fs.unlink(fifo).catch(() => undefined);
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new InternalError(`start of container through ${fifo} failed`, { cause: err });
  } finally {
    clearInterval(watchdog);
  }
  if (data.length === 0) throw new InternalError(`cannot start container through ${fifo}: container process is already dead`);
  return true;
}
