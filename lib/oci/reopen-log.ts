import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, InternalError, errnoCode } from '../errors';

/**
 * ReopenContainerLog through conmon's control FIFO (`<bundle>/ctl`): the message `2 0 0` makes
 * conmon close and reopen its log file, which the kubelet has just renamed away during rotation.
 */

/** conmon's REOPEN_LOGS_EVENT message on the ctl FIFO. */
const REOPEN_MESSAGE = '2 0 0\n';
const POLL_MS = 10;

async function inode(file: string): Promise<bigint | undefined> {
  return fs.stat(file, { bigint: true }).then(
    (st) => st.ino,
    () => undefined,
  );
}

/**
 * Asks conmon to reopen `logPath` and waits until the file is there again (a new inode if the old
 * one was renamed away). FailedPreconditionError when no conmon reads the FIFO (container gone).
 */
export async function reopenContainerLog(bundleDir: string, logPath: string, timeoutMs = 5_000): Promise<void> {
  const ctl = path.join(bundleDir, 'ctl');
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO nobody reads fails with ENXIO instead of blocking forever.
    handle = await fs.open(ctl, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENXIO' || code === 'ENOENT')
      throw new FailedPreconditionError(`conmon of the container in ${bundleDir} is not running (no reader on ${ctl})`, { cause: err });
    throw err;
  }
  const before = await inode(logPath);
  try {
    await handle.write(REOPEN_MESSAGE);
  } finally {
    await handle.close();
  }
  // If the kubelet did not move the file, conmon reopens the same one: nothing to wait for.
  if (before !== undefined) return;
  const deadline = Date.now() + timeoutMs;
  while ((await inode(logPath)) === undefined) {
    if (Date.now() > deadline) throw new InternalError(`conmon did not reopen ${logPath} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
