import { spawn } from './spawn';

/**
 * The one helper that runs external programs (runc, conmon, mount, CNI plugins, unshare).
 * Only driver modules call it; pure modules never do.
 */

export interface RunOptions {
  /** Bytes written to the child's stdin, then stdin is closed. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  /** Kill the child (SIGKILL) after this many ms. */
  timeoutMs?: number;
  /** Cap on captured stdout/stderr bytes each; the rest is dropped. */
  maxOutputBytes?: number;
}

export interface RunResult {
  exitCode: number;
  /** Set when the child died of a signal. */
  signal?: NodeJS.Signals;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

/** Runs a program to completion and captures its output. Never throws for a non-zero exit. */
export function runProgram(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b.subarray(0, max - errLen));
      errLen += b.length;
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode: code ?? -1,
        signal: sig ?? undefined,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined); // child may exit before reading stdin
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** The last `n` characters of a program's stderr, trimmed, for error messages. */
export function stderrTail(result: RunResult, n = 400): string {
  const s = result.stderr.toString('utf8').trim();
  return s.length > n ? '…' + s.slice(-n) : s;
}

/** Finds an executable by name in $PATH (or returns an absolute path as is when executable). */
export async function findExecutable(name: string, pathEnv = process.env.PATH ?? ''): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises');
  const candidates = name.includes('/') ? [name] : [...pathEnv.split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter(Boolean).map((d) => `${d}/${name}`);
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}
