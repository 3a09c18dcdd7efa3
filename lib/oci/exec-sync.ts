import { spawn } from '../spawn';
import { randomBytes } from 'node:crypto';
import { promises as fs, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, InternalError, NotFoundError, errnoCode } from '../errors';
import type { Logger } from '../log';
import { buildConmonExecArgs, parseK8sFileLog, runConmonExec } from './conmon-exec';
import { killExecProcess, readPidFile } from './pids';
import { isRuncNotFound, runcErrorMessage, runcExecArgs } from './runc-args';
import type { SpecProcess } from './spec-input';
import { faultPoint } from '../fault-points';

/**
 * ExecSync. Without a terminal it runs `runc exec` directly (no conmon in between: one process less,
 * so probes are about as fast as a bare runc exec); with one it goes through conmon like CRI-O, since
 * the pty arrives over runc's console socket. CRI-O's contract is kept either way: a timeout is not an
 * error but exit code -1 with stderr "command timed out", and each stream is capped at 16 MiB.
 */

/** Cap on captured stdout and stderr, each (CRI-O's maxExecSyncSize). */
export const EXEC_SYNC_MAX_OUTPUT = 16 * 1024 * 1024;

/** conmon's TIMED_OUT_MESSAGE, which kubelet shows in probe failures. */
export const EXEC_TIMED_OUT_MESSAGE = 'command timed out';

/** Result of ExecSync. */
export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** What runExecSync needs. */
export interface ExecSyncParams {
  runtimePath: string;
  /** Used only for terminal execs. */
  conmonPath: string;
  /** conmon log level (terminal execs). */
  conmonLogLevel: string;
  runtimeRoot: string;
  /** runc `--systemd-cgroup` (CRI-O passes it on every direct runc call with that driver). */
  systemdCgroup?: boolean;
  containerId: string;
  process: SpecProcess;
  /** Directory for the temporary process.json and pid file (per container, on tmpfs ideally). */
  workDir: string;
  timeoutSec: number;
  signal: AbortSignal;
  log: Logger;
}

/** How long to keep reading after runc exits, for output still in the pipes (background children may hold them open forever). */
const DRAIN_GRACE_MS = 250;
/** How long runc gets, after a timeout, to write its pid file and exit once its process is killed. */
const RUNC_KILL_GRACE_MS = 5_000;
const STOP_POLL_MS = 50;

class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  push(chunk: Buffer): void {
    if (this.length >= EXEC_SYNC_MAX_OUTPUT) return;
    const part = chunk.subarray(0, EXEC_SYNC_MAX_OUTPUT - this.length);
    this.chunks.push(part);
    this.length += part.length;
  }
  get value(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Files of one exec. */
interface ExecFiles {
  processFile: string;
  pidFile: string;
  logFile: string;
}

/** An error for a runc exec that never started the command. */
function execFailure(containerId: string, stderr: string, exit: string): Error {
  if (isRuncNotFound(stderr)) return new NotFoundError(`container ${containerId} not found by runc`);
  if (/stopped container|not running/.test(stderr)) return new FailedPreconditionError(`container ${containerId} is not running: ${runcErrorMessage(stderr)}`);
  return new InternalError(`runc exec in container ${containerId} failed (exit ${exit}): ${runcErrorMessage(stderr)}`);
}

function abortError(p: ExecSyncParams): Error {
  return p.signal.reason instanceof Error ? p.signal.reason : new InternalError(`exec in container ${p.containerId} cancelled`);
}

async function execDirect(p: ExecSyncParams, files: ExecFiles): Promise<ExecSyncResult> {
  const args = runcExecArgs({ root: p.runtimeRoot, systemdCgroup: p.systemdCgroup ?? false }, p.containerId, files.processFile, files.pidFile);
  p.log.debug('running runc', { argv: args });
  const child = spawn(p.runtimePath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const stdout = new CappedBuffer();
  const stderr = new CappedBuffer();
  child.stdout.on('data', (b: Buffer) => stdout.push(b));
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  faultPoint('exec-sync:runc-spawned');

  let timedOut = false;
  let aborted = false;
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    // The pid file may not exist yet if runc is still starting the process: retry until it does.
    // runc exits by itself once its process is gone; only a runc that hangs is killed.
    const deadline = Date.now() + RUNC_KILL_GRACE_MS;
    let killed = false;
    while (running()) {
      if (!killed) killed = await killExecProcess(files.pidFile);
      if (Date.now() >= deadline) {
        child.kill('SIGKILL');
        if (!killed) await killExecProcess(files.pidFile);
        return;
      }
      await new Promise((r) => setTimeout(r, STOP_POLL_MS));
    }
  };
  const timer =
    p.timeoutSec > 0
      ? setTimeout(() => {
          timedOut = true;
          void stop();
        }, p.timeoutSec * 1000)
      : undefined;
  const onAbort = (): void => {
    aborted = true;
    void stop();
  };
  p.signal.addEventListener('abort', onAbort, { once: true });

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    let drain: NodeJS.Timeout | undefined;
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      // Output already in the pipes arrives shortly; a background child holding them open must not block us.
      drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code, signal });
      }, DRAIN_GRACE_MS);
    });
    child.once('close', (code, signal) => {
      if (drain) clearTimeout(drain);
      resolve({ code, signal });
    });
  }).finally(() => {
    if (timer) clearTimeout(timer);
    p.signal.removeEventListener('abort', onAbort);
  });

  faultPoint('exec-sync:exited');
  if (aborted) throw abortError(p);
  if (timedOut) return { stdout: stdout.value, stderr: Buffer.from(EXEC_TIMED_OUT_MESSAGE), exitCode: -1 };
  // runc exits 0 only when the command ran and exited 0. Otherwise, no pid file means runc itself
  // failed (container gone or stopped) and the command never ran.
  if (exit.code !== 0 && (await readPidFile(files.pidFile)) === undefined) throw execFailure(p.containerId, stderr.value.toString('utf8'), String(exit.code ?? exit.signal));
  return { stdout: stdout.value, stderr: stderr.value, exitCode: exit.code ?? -1 };
}

async function execViaConmon(p: ExecSyncParams, files: ExecFiles): Promise<ExecSyncResult> {
  const args = buildConmonExecArgs({
    containerId: p.containerId,
    runtimePath: p.runtimePath,
    runtimeRoot: p.runtimeRoot,
    pidFile: files.pidFile,
    logPath: files.logFile,
    processFile: files.processFile,
    logLevel: p.conmonLogLevel,
    timeoutSec: p.timeoutSec,
    terminal: true,
    maxOutputBytes: EXEC_SYNC_MAX_OUTPUT,
  });
  p.log.debug('running conmon exec', { argv: args });
  const outcome = await runConmonExec(p.conmonPath, args, p.signal, () => void killExecProcess(files.pidFile));
  if (p.signal.aborted) throw abortError(p);
  const log = await fs.readFile(files.logFile).catch((err: unknown) => {
    if (errnoCode(err) === 'ENOENT') return Buffer.alloc(0);
    throw err;
  });
  const { stdout, stderr } = parseK8sFileLog(log);
  if (outcome.message === EXEC_TIMED_OUT_MESSAGE) return { stdout, stderr: Buffer.from(EXEC_TIMED_OUT_MESSAGE), exitCode: -1 };
  if (outcome.message !== undefined) throw execFailure(p.containerId, outcome.message, String(outcome.exitCode));
  return { stdout: stdout.subarray(0, EXEC_SYNC_MAX_OUTPUT), stderr: stderr.subarray(0, EXEC_SYNC_MAX_OUTPUT), exitCode: outcome.exitCode };
}

/**
 * Names of one exec's files: a random prefix per daemon process and a counter (hex, as
 * exec-orphans.ts expects), not random bytes per exec: cheaper, and unique all the same.
 */
const TOKEN_PREFIX = randomBytes(4).toString('hex');
let tokenSeq = 0;

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

/**
 * Runs a command in a running container and collects its output. The exec's files are written
 * and removed with synchronous calls: they are a few hundred bytes in the container's dir under
 * the run root (tmpfs), where each call takes microseconds, while each asynchronous one is a
 * round trip through libuv's thread pool that a loaded node pays for in scheduling delays
 * (ExecSync is what liveness probes call, and issue 17 wants it as fast as a bare `runc exec`).
 */
export async function runExecSync(p: ExecSyncParams): Promise<ExecSyncResult> {
  const token = `${TOKEN_PREFIX}${(++tokenSeq).toString(16)}`;
  const files: ExecFiles = {
    processFile: path.join(p.workDir, `exec-${token}.json`),
    pidFile: path.join(p.workDir, `exec-${token}.pid`),
    logFile: path.join(p.workDir, `exec-${token}.log`),
  };
  mkdirSync(p.workDir, { recursive: true, mode: 0o700 });
  writeFileSync(files.processFile, JSON.stringify(p.process), { mode: 0o600 });
  try {
    return await (p.process.terminal ? execViaConmon(p, files) : execDirect(p, files));
  } finally {
    removeQuietly(files.processFile);
    removeQuietly(files.pidFile);
    if (p.process.terminal) removeQuietly(files.logFile);
  }
}
