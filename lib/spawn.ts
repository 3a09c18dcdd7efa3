import { spawn as forkSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { getSystemErrorName } from 'node:util';

/**
 * How the daemon starts programs (runc, conmon, CNI plugins, perl helpers): posix_spawn through
 * native/spawn.c, which does not copy the daemon's page tables as libuv's fork() does (4-9 ms of
 * blocked event loop per child on this VM, ~0.6 ms with posix_spawn; issue 17). The child
 * object has the part of ChildProcess the daemon uses: stdio sockets, pid, kill, and the 'exit',
 * 'close' and 'error' events with Node's meaning and order. Where the addon is missing or the
 * kernel has no pidfd (before Linux 5.3), or CRIO_TS_SPAWN=fork, Node's own spawn does the same.
 */

/** One descriptor of the child: a socket pair to the daemon, /dev/null, or the daemon's own. */
export type StdioMode = 'pipe' | 'ignore' | 'inherit';

type Stream<M extends StdioMode, S> = M extends 'pipe' ? S : null;

/** The options the daemon's call sites use. */
export interface SpawnOptions<I extends StdioMode, O extends StdioMode, E extends StdioMode> {
  /** Descriptors 0, 1, 2 and any further ones (3…: 'pipe' or 'ignore'). */
  stdio: readonly [I, O, E, ...StdioMode[]];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A session of its own (setsid), as Node's `detached`. */
  detached?: boolean;
}

/** A started child: what the daemon reads of Node's ChildProcess. */
export interface SpawnedChild<I extends StdioMode = StdioMode, O extends StdioMode = StdioMode, E extends StdioMode = StdioMode> extends EventEmitter {
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdin: Stream<I, Writable>;
  readonly stdout: Stream<O, Readable>;
  readonly stderr: Stream<E, Readable>;
  /** One entry per descriptor: the daemon's end of a 'pipe', otherwise null. */
  readonly stdio: ReadonlyArray<Socket | null>;
  kill(signal?: NodeJS.Signals | number): boolean;
  /** The daemon need not wait for this child to exit (Node's unref). */
  unref(): void;
  on(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
}

interface NativeSpawn {
  spawn(file: string, argv: string[], envp: string[], cwd: string | null, setsid: boolean, fdMap: number[], onExit: (code: number | null, signal: number | null) => void): number;
  socketPair(): [number, number];
  close(fd: number): void;
  unref(pid: number): void;
  available(): boolean;
}

function loadNative(): NativeSpawn | undefined {
  if (process.env['CRIO_TS_SPAWN'] === 'fork') return undefined;
  try {
    // build/native/spawn.node, next to build/lib (tsc output) and build/cmd (the bundle).
    const addon = require(path.join(__dirname, '..', 'native', 'spawn.node')) as NativeSpawn;
    return addon.available() ? addon : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Which way children are started: 'posix_spawn' (native/spawn.c) or 'fork' (Node's). */
export function spawnBackend(): 'posix_spawn' | 'fork' {
  return native ? 'posix_spawn' : 'fork';
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

class NativeChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdio: Array<Socket | null>;
  private closesNeeded = 1;
  private closesGot = 0;

  constructor(ends: Array<Socket | null>) {
    super();
    this.stdio = ends;
    // As Node: 'close' waits for the exit and for every readable end (1, 2, 3…) to close.
    ends.forEach((s, i) => {
      if (s === null || i === 0) return;
      this.closesNeeded++;
      s.once('close', () => this.maybeClose());
    });
  }

  get stdin(): Socket | null {
    return this.stdio[0] ?? null;
  }
  get stdout(): Socket | null {
    return this.stdio[1] ?? null;
  }
  get stderr(): Socket | null {
    return this.stdio[2] ?? null;
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.exitCode !== null || this.signalCode !== null) return false;
    try {
      // The pid cannot be reused before onExit: only this module reaps it.
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  unref(): void {
    if (this.pid !== undefined && this.exitCode === null && this.signalCode === null) native?.unref(this.pid);
  }

  /** The child has exited (or never started: exitCode is then -errno and 'error' is emitted). */
  finish(code: number | null, signal: number | null, error?: Error): void {
    if (signal !== null) this.signalCode = SIGNAL_NAMES.get(signal) ?? null;
    else this.exitCode = code;
    this.stdin?.destroy();
    if (error) this.emit('error', error);
    else this.emit('exit', this.exitCode, this.signalCode);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (++this.closesGot === this.closesNeeded) this.emit('close', this.exitCode, this.signalCode);
  }
}

/**
 * The addon's exit callback. It runs inside napi_make_callback, whose TryCatch would swallow an
 * exception thrown by an 'exit' or 'close' listener (and skip the rest of finish): it is thrown
 * again from a fresh macrotask instead, where it is an uncaught exception as with Node's spawn.
 */
function onExitOf(child: () => NativeChild | undefined): (code: number | null, signal: number | null) => void {
  return (code, signal) => {
    try {
      child()?.finish(code, signal);
    } catch (err) {
      setImmediate(() => {
        throw err;
      });
    }
  };
}

function spawnError(file: string, args: readonly string[], errno: number): Error {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`spawn ${file} ${code}`), { errno: -errno, code, syscall: `spawn ${file}`, path: file, spawnargs: [...args] });
}

function spawnNative(addon: NativeSpawn, file: string, argv0: string, args: readonly string[], options: SpawnOptions<StdioMode, StdioMode, StdioMode>): NativeChild {
  const parentEnds: Array<number | null> = [];
  const fdMap: number[] = [];
  const childEnds: number[] = [];
  try {
    options.stdio.forEach((mode, i) => {
      if (mode === 'pipe') {
        const [mine, theirs] = addon.socketPair();
        parentEnds.push(mine);
        childEnds.push(theirs);
        fdMap.push(theirs);
      } else {
        parentEnds.push(null);
        fdMap.push(mode === 'inherit' && i < 3 ? -2 : -1);
      }
    });
  } catch (err) {
    for (const fd of [...parentEnds, ...childEnds]) if (fd !== null) addon.close(fd);
    throw err;
  }
  const env = Object.entries(options.env ?? process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  let child: NativeChild | undefined;
  let pid: number;
  try {
    pid = addon.spawn(file, [argv0, ...args], env, options.cwd ?? null, options.detached ?? false, fdMap, onExitOf(() => child));
  } catch (err) {
    for (const fd of [...parentEnds, ...childEnds]) if (fd !== null) addon.close(fd);
    throw err;
  } finally {
    // The child has its copies (or never started): the daemon keeps only its own ends.
    for (const fd of childEnds) addon.close(fd);
  }
  const ends = parentEnds.map((fd, i) => (fd === null ? null : new Socket({ fd, readable: i > 0, writable: true })));
  child = new NativeChild(ends);
  if (pid > 0) {
    child.pid = pid;
  } else {
    const failed = child;
    process.nextTick(() => failed.finish(pid, null, spawnError(file, args, -pid)));
  }
  return child;
}

/** `file` as execvp finds it in the child's PATH (posix_spawn itself does no lookup), or undefined. */
function lookPath(file: string, env: NodeJS.ProcessEnv | undefined): string | undefined {
  if (file.includes('/')) return file;
  for (const dir of (env ?? process.env)['PATH']?.split(':') ?? []) {
    const candidate = path.join(dir === '' ? '.' : dir, file);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Starts `file` (looked up in the child's PATH when it has no slash, as Node does) with `args`; no shell. */
export function spawn<I extends StdioMode, O extends StdioMode, E extends StdioMode>(file: string, args: readonly string[], options: SpawnOptions<I, O, E>): SpawnedChild<I, O, E> {
  const resolved = native ? lookPath(file, options.env) : undefined;
  // Both shapes are the same at run time: Node's ChildProcess has these streams for these modes.
  // A program not found goes to Node too, for its ENOENT error.
  if (!native || resolved === undefined) return forkSpawn(file, args, { ...options, stdio: [...options.stdio] }) as unknown as SpawnedChild<I, O, E>;
  return spawnNative(native, resolved, file, args, options) as unknown as SpawnedChild<I, O, E>;
}
