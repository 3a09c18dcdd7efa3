import { spawn } from '../spawn';
import type { Readable } from 'node:stream';
import { InternalError } from '../errors';
import { parseConmonSyncMessage } from './conmon-args';
import { runcErrorMessage } from './runc-args';

/**
 * ExecSync with a terminal, CRI-O's way: conmon (`-e -t --sync`) runs `runc exec --tty`, owns the pty
 * through runc's console socket (which Node cannot receive file descriptors from), writes the output
 * as a k8s-file log and reports the exit code on the sync pipe.
 */

/** conmon's exec flags. */
export interface ConmonExecArgsOptions {
  containerId: string;
  runtimePath: string;
  runtimeRoot: string;
  pidFile: string;
  logPath: string;
  processFile: string;
  logLevel: string;
  /** 0 = none; conmon kills the process group and reports "command timed out". */
  timeoutSec: number;
  terminal: boolean;
  maxOutputBytes: number;
}

/** The conmon argv for one exec (legacy exec API: a single `{"exit_code": N}` message at the end). */
export function buildConmonExecArgs(o: ConmonExecArgsOptions): string[] {
  return [
    '-c', o.containerId,
    '-n', o.containerId,
    '-r', o.runtimePath,
    '-p', o.pidFile,
    '-e',
    '-l', `k8s-file:${o.logPath}`,
    '--log-level', o.logLevel,
    // --sync: no double fork, so conmon stays our child and we simply wait for it.
    '--sync',
    '--log-global-size-max', String(o.maxOutputBytes),
    ...(o.terminal ? ['-t'] : []),
    ...(o.timeoutSec > 0 ? ['-T', String(o.timeoutSec)] : []),
    '--exec-process-spec', o.processFile,
    '--runtime-arg', `--root=${o.runtimeRoot}`,
  ];
}

/** Splits a k8s-file log (`<time> <stdout|stderr> <F|P> <text>`) back into the two streams (CRI-O parseLog). */
export function parseK8sFileLog(log: Buffer): { stdout: Buffer; stderr: Buffer } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let start = 0;
  while (start < log.length) {
    const nl = log.indexOf(0x0a, start);
    const end = nl < 0 ? log.length : nl + 1;
    const line = log.subarray(start, end);
    start = end;
    const s1 = line.indexOf(0x20);
    const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
    const s3 = s2 < 0 ? -1 : line.indexOf(0x20, s2 + 1);
    if (s3 < 0) continue; // malformed; CRI-O skips it too
    const stream = line.subarray(s1 + 1, s2).toString('latin1');
    const tag = line.subarray(s2 + 1, s3).toString('latin1');
    let content = line.subarray(s3 + 1);
    // A partial line's newline belongs to the log format, not to the output.
    if (tag === 'P' && content.at(-1) === 0x0a) content = content.subarray(0, -1);
    if (stream === 'stdout') out.push(content);
    else if (stream === 'stderr') err.push(content);
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/** What conmon reported for one exec. */
export interface ConmonExecOutcome {
  exitCode: number;
  message?: string;
}

/** Runs conmon for one exec and returns its sync-pipe verdict; `onAbort` lets the caller kill the process. */
export async function runConmonExec(conmonPath: string, args: string[], signal: AbortSignal, onAbort: () => void): Promise<ConmonExecOutcome> {
  const child = spawn(conmonPath, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' },
  });
  const stderr: Buffer[] = [];
  (child.stdio[2] as Readable).on('data', (b: Buffer) => stderr.push(b));
  const sync: Buffer[] = [];
  (child.stdio[3] as Readable).on('data', (b: Buffer) => sync.push(b));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    const line = Buffer.concat(sync).toString('utf8').split('\n').find((l) => l.trim() !== '');
    const msg = line === undefined ? undefined : parseConmonSyncMessage(line);
    if (msg === undefined) {
      throw new InternalError(`conmon exec exited with ${code ?? 'a signal'} without an exit code: ${Buffer.concat(stderr).toString('utf8').trim()}`);
    }
    return msg.message === undefined ? { exitCode: msg.value } : { exitCode: msg.value, message: runcErrorMessage(msg.message) };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
