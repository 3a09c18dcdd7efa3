import { spawn } from '../spawn';
import type { Readable, Writable } from 'node:stream';
import { InternalError } from '../errors';
import { buildConmonArgs, type ConmonArgsOptions, conmonPidFile, parseConmonSyncMessage } from './conmon-args';
import { readPidFile } from './pids';
import { runcErrorMessage } from './runc-args';
import { quote } from '../quote';

/**
 * Starts conmon for `runc create` and learns the container PID over the sync pipe, the way CRI-O does:
 * fd 3 = _OCI_SYNCPIPE (conmon → us: `{"data": pid}` or `{"data": -1, "message": …}`),
 * fd 4 = _OCI_STARTPIPE (us → conmon: one byte once conmon sits in its cgroup and, for a conmon
 * launched early (launchConmon), once the bundle is complete).
 * conmon then double-forks and calls setsid, so the monitor outlives the daemon; the intermediate
 * process is our child and is always waited for, so no zombie is left.
 */

/** Options beyond the argv: where to put conmon and how long to wait. */
export interface SpawnConmonOptions {
  conmonPath: string;
  args: ConmonArgsOptions;
  /** Called with the intermediate conmon PID before it is allowed to fork (e.g. move it to a cgroup). */
  beforeStart?: (conmonPid: number) => Promise<void>;
  timeoutMs: number;
  signal: AbortSignal;
}

/** PIDs of a created container. */
export interface ConmonCreateResult {
  pid: number;
  conmonPid: number;
}

/** Thrown when runc create (run by conmon) failed; carries runc's own message. */
export class ContainerCreateError extends InternalError {}

const MONITOR_ENV_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function readFirstLine(stream: Readable): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (value: string | undefined): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const onEnd = (): void => done(buf === '' ? undefined : buf);
    const onError = (err: Error): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number, signal: AbortSignal, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new InternalError(`${what}: timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new InternalError(`${what}: cancelled`));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}

/** What launchConmon needs: no hook yet, the cgroup move happens at start. */
export type LaunchConmonOptions = Omit<SpawnConmonOptions, 'beforeStart'>;

/**
 * A conmon blocked on its start pipe. Until the start byte, conmon 2.1 has only parsed its
 * arguments, checked that the runtime path is executable, opened (O_CREAT) the CRI log file and
 * set its own oom_score_adj: it has not forked, not touched the bundle, persist or exit dirs,
 * made no socket or FIFO and written nothing to the sync pipe. So it may be launched before the
 * bundle exists in full, and killing it before the start leaves only the log file.
 */
export interface WaitingConmon {
  /** The intermediate conmon (our child). */
  readonly pid: number;
  /** Moves it (beforeStart), writes the start byte; resolves once the container exists (state "created"). */
  start(beforeStart?: (conmonPid: number) => Promise<void>): Promise<ConmonCreateResult>;
  /**
   * Kills it before the start byte and reaps it. Not by closing the start pipe: conmon takes
   * EOF (a read of 0 bytes) as the go-ahead and runs `runc create`. A no-op once start was called.
   * The daemon dying while conmon waits is such an EOF: with the sealed runc copy (sealed-runtime.ts)
   * conmon's runtime path is /proc/<daemon pid>/fd/<n>, gone with the daemon, so no `runc create`
   * can run; without it the container may come to be, and start-up cleanup removes it as an orphan
   * (removeOrphans), as after a crash during `runc create`.
   */
  abort(): Promise<void>;
}

/** Launches conmon and leaves it waiting on the start pipe; rejects when it cannot be spawned. */
export async function launchConmon(options: LaunchConmonOptions): Promise<WaitingConmon> {
  const argv = buildConmonArgs(options.args);
  const child = spawn(options.conmonPath, argv, {
    cwd: options.args.bundleDir,
    // Own session/process group: a ^C or group kill aimed at the daemon must not reach the monitor.
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { PATH: MONITOR_ENV_PATH, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
  });
  const stderrChunks: Buffer[] = [];
  const stderr = child.stdio[2] as Readable;
  const syncPipe = child.stdio[3] as Readable;
  const startPipe = child.stdio[4] as Writable;
  stderr.on('data', (b: Buffer) => stderrChunks.push(b));
  startPipe.on('error', () => undefined); // conmon may die before reading
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => undefined); // observed by start/abort; a waiting conmon may never be awaited
  const syncLine = readFirstLine(syncPipe);
  syncLine.catch(() => undefined);

  const closeAll = async (): Promise<void> => {
    // The intermediate process must be reaped even when we give up on it, or it stays a zombie.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
    for (const s of child.stdio) s?.destroy();
    child.unref();
  };
  const pid = child.pid;
  if (pid === undefined) {
    try {
      await exited; // rejects with the spawn error (ENOENT, EACCES)
    } finally {
      await closeAll();
    }
    throw new InternalError(`conmon ${options.conmonPath} did not start`);
  }
  let started = false;

  const start = async (beforeStart?: (conmonPid: number) => Promise<void>): Promise<ConmonCreateResult> => {
    started = true;
    try {
      if (beforeStart) await beforeStart(pid);
      startPipe.end(Buffer.from([0]));
      const exit = await withDeadline(exited, options.timeoutMs, options.signal, 'conmon start');
      if (exit.code !== 0) {
        const text = Buffer.concat(stderrChunks).toString('utf8').trim();
        throw new InternalError(`conmon exited with ${exit.code ?? exit.signal ?? 'unknown'} before creating container ${options.args.containerId}: ${text}`);
      }
      const line = await withDeadline(syncLine, options.timeoutMs, options.signal, `create container ${options.args.containerId}`);
      const message = line === undefined ? undefined : parseConmonSyncMessage(line);
      if (message === undefined) {
        throw new ContainerCreateError(`container create failed: conmon closed the sync pipe without a PID${line ? ` (got ${quote(line)})` : ''}`);
      }
      if (message.value <= 0) {
        throw new ContainerCreateError(`container create failed: ${message.message ? runcErrorMessage(message.message) : 'unknown error'}`);
      }
      const conmonPid = await readPidFile(conmonPidFile(options.args.bundleDir));
      if (conmonPid === undefined) throw new InternalError(`conmon did not write ${conmonPidFile(options.args.bundleDir)}`);
      return { pid: message.value, conmonPid };
    } finally {
      await closeAll();
    }
  };
  const abort = async (): Promise<void> => {
    if (started) return;
    started = true;
    await closeAll();
  };
  return { pid, start, abort };
}

/** Runs conmon → runc create; resolves once the container exists (state "created"). */
export async function spawnConmon(options: SpawnConmonOptions): Promise<ConmonCreateResult> {
  const conmon = await launchConmon(options);
  return conmon.start(options.beforeStart);
}
