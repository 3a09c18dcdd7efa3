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
 * fd 4 = _OCI_STARTPIPE (us → conmon: one byte once conmon sits in its cgroup).
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

/** Runs conmon → runc create; resolves once the container exists (state "created"). */
export async function spawnConmon(options: SpawnConmonOptions): Promise<ConmonCreateResult> {
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
  try {
    if (child.pid === undefined) {
      await exited; // rejects with the spawn error (ENOENT, EACCES)
      throw new InternalError(`conmon ${options.conmonPath} did not start`);
    }
    if (options.beforeStart) await options.beforeStart(child.pid);
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
}
