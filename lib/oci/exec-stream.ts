import { spawn, type SpawnedChild } from '../spawn';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { FailedPreconditionError, InternalError, NotFoundError } from '../errors';
import type { Logger } from '../log';
import { findExecutable } from '../process';
import { parseConmonSyncMessage } from './conmon-args';
import { connectAttachSocket, forwardResizes, pumpAttachSocket, type StreamIo } from './conmon-attach';
import { killExecProcess, readPidFile } from './pids';
import { isRuncNotFound, runcErrorMessage, runcExecArgs } from './runc-args';
import type { SpecProcess } from './spec-input';

/**
 * Interactive exec (the CRI Exec stream). Without a terminal, `runc exec` runs in the foreground with
 * the client's streams on its pipes, as CRI-O does. With one, the pty comes over runc's console socket,
 * which Node cannot take file descriptors from, so conmon holds it: `conmon -e --exec-attach -t`
 * (podman's exec session) puts an attach socket and a ctl fifo in a per-session directory, waits on the
 * start pipe until we are connected, and reports the exit code on the sync pipe.
 */

/** What runExecStream needs. */
export interface ExecStreamParams {
  runtimePath: string;
  conmonPath: string;
  conmonLogLevel: string;
  runtimeRoot: string;
  /** runc `--systemd-cgroup` (CRI-O passes it on every direct runc call with that driver). */
  systemdCgroup?: boolean;
  containerId: string;
  /** `terminal` selects the conmon path. */
  process: SpecProcess;
  /** The container's runtime dir; each session gets a subdirectory. */
  workDir: string;
  io: StreamIo;
  /** Aborting kills the process (client gone, container ended, daemon stopping). */
  signal: AbortSignal;
  log: Logger;
}

const PATH_ENV = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin';
/** How long to keep reading after runc exits, for output still in the pipes (background children may hold them). */
const DRAIN_GRACE_MS = 250;
/** How long runc or conmon get to exit once the exec'd process is killed. */
const KILL_GRACE_MS = 5_000;
const STOP_POLL_MS = 50;

function running(child: SpawnedChild): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Kills the exec'd process (retrying until its pid file exists), then its parent if that hangs. */
async function stopExec(child: SpawnedChild, pidFile: string): Promise<void> {
  const deadline = Date.now() + KILL_GRACE_MS;
  let killed = false;
  while (running(child)) {
    if (!killed) killed = await killExecProcess(pidFile);
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, STOP_POLL_MS));
  }
}

function startFailure(containerId: string, text: string): Error {
  const msg = runcErrorMessage(text);
  if (isRuncNotFound(text)) return new NotFoundError(`container ${containerId} not found by runc`);
  if (/stopped container|not running|cannot exec in a (stopped|paused)/.test(text)) return new FailedPreconditionError(`container ${containerId} is not running: ${msg}`);
  return new InternalError(`exec in container ${containerId} failed: ${msg}`);
}

/** Resolves with runc's exit once its pipes are drained (or the drain grace passed). */
function waitDrained(child: SpawnedChild): Promise<number | null> {
  return new Promise((resolve, reject) => {
    let drain: NodeJS.Timeout | undefined;
    child.once('error', reject);
    child.once('exit', (code) => {
      drain = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve(code);
      }, DRAIN_GRACE_MS);
    });
    child.once('close', (code) => {
      if (drain) clearTimeout(drain);
      resolve(code);
    });
  });
}

async function execDirect(p: ExecStreamParams, processFile: string, pidFile: string): Promise<number> {
  const args = runcExecArgs({ root: p.runtimeRoot, systemdCgroup: p.systemdCgroup ?? false }, p.containerId, processFile, pidFile);
  p.log.debug('running runc', { argv: args });
  const child = spawn(p.runtimePath, args, { stdio: [p.io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { PATH: PATH_ENV } });
  const stdin = p.io.stdin;
  if (stdin && child.stdin) {
    child.stdin.on('error', () => undefined); // the process may exit without reading it all
    stdin.pipe(child.stdin);
  }
  // runc reports its own failures on stderr; keep a tail for the error message.
  let stderrTail = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderrTail = (stderrTail + b.toString('utf8')).slice(-4096);
  });
  forward(child.stdout, p.io.stdout);
  forward(child.stderr, p.io.stderr);
  const onAbort = (): void => void stopExec(child, pidFile);
  p.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await waitDrained(child);
    if (p.signal.aborted) return -1;
    // No pid file: runc never started the command (container gone or stopped).
    if ((await readPidFile(pidFile)) === undefined) throw startFailure(p.containerId, stderrTail);
    return code ?? -1;
  } finally {
    p.signal.removeEventListener('abort', onAbort);
    if (stdin && child.stdin) stdin.unpipe(child.stdin);
  }
}

/** Copies a child's pipe to the client without ending the client stream (the session writes the status after it). */
function forward(from: Readable | null, to: Writable | undefined): void {
  if (!from) return;
  if (to) from.pipe(to, { end: false });
  else from.resume();
}

/** The conmon argv for an attachable exec session with a terminal. */
function buildConmonExecAttachArgs(p: ExecStreamParams, sessionDir: string, sessionId: string, processFile: string, pidFile: string): string[] {
  return [
    '--api-version', '1',
    '-c', p.containerId,
    '-n', p.containerId,
    '-u', sessionId,
    '-r', p.runtimePath,
    // With --exec the bundle is only where the attach socket and the ctl/winsz fifos go.
    '-b', sessionDir,
    '-p', pidFile,
    '-e', '--exec-attach',
    '--exec-process-spec', processFile,
    '--full-attach',
    '-t',
    '-l', 'none',
    '--log-level', p.conmonLogLevel,
    // No double fork: conmon stays our child, so it is always reaped and killed with the session.
    '--sync',
    '--runtime-arg', `--root=${p.runtimeRoot}`,
  ];
}

/** Splits a pipe into lines as they arrive. */
function lines(stream: Readable): AsyncIterator<string> {
  const queue: string[] = [];
  let buf = '';
  let ended = false;
  let wake: (() => void) | undefined;
  stream.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      queue.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  });
  stream.on('close', () => {
    ended = true;
    wake?.();
  });
  return {
    next: async (): Promise<IteratorResult<string>> => {
      while (queue.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
      const value = queue.shift();
      return value === undefined ? { value: undefined, done: true } : { value, done: false };
    },
  };
}

let setpriv: Promise<string | undefined> | undefined;

async function execWithTerminal(p: ExecStreamParams, sessionDir: string, processFile: string, pidFile: string): Promise<number> {
  const sessionId = path.basename(sessionDir);
  const args = buildConmonExecAttachArgs(p, sessionDir, sessionId, processFile, pidFile);
  p.log.debug('running conmon exec', { argv: args });
  // conmon holds the pty; if the daemon dies it must die too, so the session's terminal hangs up
  // instead of waiting for input forever (PR_SET_PDEATHSIG through util-linux setpriv).
  setpriv ??= findExecutable('setpriv');
  const wrapper = await setpriv;
  const child = spawn(wrapper ?? p.conmonPath, wrapper ? ['--pdeathsig', 'KILL', '--', p.conmonPath, ...args] : args, {
    cwd: sessionDir,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { PATH: PATH_ENV, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', _OCI_ATTACHPIPE: '5' },
  });
  let conmonStderr = '';
  (child.stdio[2] as Readable).on('data', (b: Buffer) => (conmonStderr = (conmonStderr + b.toString('utf8')).slice(-4096)));
  const sync = lines(child.stdio[3] as Readable);
  const startPipe = child.stdio[4] as Writable;
  startPipe.on('error', () => undefined);
  const attachPipe = lines((child.stdio as ReadonlyArray<Readable | Writable | null | undefined>)[5] as Readable);
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (err) => {
      conmonStderr += err.message;
      resolve();
    });
  });
  let released = false;
  // Before the second start byte no process exists yet: conmon itself is what must go.
  const stop = (): Promise<void> => (released ? stopExec(child, pidFile) : Promise.resolve(void child.kill('SIGKILL')));
  const onAbort = (): void => void stop();
  p.signal.addEventListener('abort', onAbort, { once: true });
  try {
    // First byte: conmon may go on and create the attach socket; second byte: it may exec runc.
    startPipe.write(Buffer.from([0]));
    if ((await attachPipe.next()).done) throw new InternalError(`conmon exited before its attach socket was ready: ${conmonStderr.trim()}`);
    const sock = await connectAttachSocket(path.join(sessionDir, 'attach'));
    if (p.signal.aborted) {
      sock.destroy();
      return -1;
    }
    startPipe.end(Buffer.from([0]));
    released = true;
    void forwardResizes(path.join(sessionDir, 'ctl'), p.io.resize).catch(() => undefined);
    const pumped = pumpAttachSocket(sock, p.io, { signal: p.signal });
    const started = await sync.next();
    const pid = started.done ? undefined : parseConmonSyncMessage(started.value);
    if (pid === undefined || pid.value <= 0) {
      sock.destroy();
      await exited;
      throw startFailure(p.containerId, pid?.message ?? conmonStderr);
    }
    await pumped;
    const ended = await sync.next();
    await exited;
    if (p.signal.aborted) return -1;
    const exit = ended.done ? undefined : parseConmonSyncMessage(ended.value);
    if (exit === undefined) throw new InternalError(`conmon exited without the exit code of the exec in container ${p.containerId}: ${conmonStderr.trim()}`);
    return exit.value;
  } finally {
    p.signal.removeEventListener('abort', onAbort);
    startPipe.destroy();
    if (running(child)) await stop();
    await exited;
  }
}

/** Runs a command in a running container with the client's streams attached; resolves with its exit code. */
export async function runExecStream(p: ExecStreamParams): Promise<number> {
  const sessionDir = path.join(p.workDir, `exec-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(sessionDir, { recursive: true, mode: 0o700 });
  const processFile = path.join(sessionDir, 'process.json');
  const pidFile = path.join(sessionDir, 'pid');
  try {
    await fs.writeFile(processFile, JSON.stringify(p.process), { mode: 0o600 });
    return await (p.process.terminal ? execWithTerminal(p, sessionDir, processFile, pidFile) : execDirect(p, processFile, pidFile));
  } finally {
    await fs.rm(sessionDir, { recursive: true, force: true });
  }
}
