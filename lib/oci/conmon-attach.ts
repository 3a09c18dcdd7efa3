import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { SeqpacketSocket } from 'node-unix-socket';
import { FailedPreconditionError, errnoCode } from '../errors';

/**
 * The client side of conmon's attach protocol (CRI-O's AttachContainer): the attach socket is
 * SOCK_SEQPACKET; every packet conmon sends starts with a byte naming the pipe (2 = stdout,
 * 3 = stderr, conmon's stdpipe_t) followed by the data; whatever we send is raw stdin; shutting down
 * our write side closes the process's stdin unless conmon runs with --leave-stdin-open. Terminal
 * resizes go to the `ctl` fifo beside the socket as `1 <height> <width>\n`.
 */

/** A terminal size as the Kubernetes clients send it. */
export interface TerminalSize {
  width: number;
  height: number;
}

/** The client's streams for one attach or exec session; absent streams were not requested. */
export interface StreamIo {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Terminal size changes (only with a terminal). */
  resize?: AsyncIterable<TerminalSize>;
}

const PIPE_STDOUT = 2;
const PIPE_STDERR = 3;
/** conmon reads at most CONN_SOCK_BUF_SIZE - 1 bytes per packet and drops the rest: stay well below. */
const MAX_STDIN_PACKET = 8192;

/**
 * Connects to an attach socket. The path often exceeds sun_path (108 bytes: bundle dirs hold a
 * 64-character ID), so it is reached through `/proc/self/fd/<dir fd>/<name>`, as conmon binds it.
 */
export async function connectAttachSocket(socketPath: string): Promise<SeqpacketSocket> {
  let dir: fs.FileHandle;
  try {
    dir = await fs.open(path.dirname(socketPath), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new FailedPreconditionError(`attach socket ${socketPath} does not exist (is conmon running?)`, { cause: err });
    throw err;
  }
  try {
    // Loaded on the first attach or streamed exec, not at start: the native addon and the
    // worker_threads module it loads cost the idle daemon ~0.6 MiB of RSS (issue 17).
    const { SeqpacketSocket: Socket } = require('node-unix-socket') as typeof import('node-unix-socket');
    const sock = new Socket();
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      try {
        sock.connect(`/proc/self/fd/${dir.fd}/${path.basename(socketPath)}`, () => {
          sock.off('error', reject);
          resolve();
        });
      } catch (err) {
        reject(err);
      }
    }).catch((err: unknown) => {
      sock.destroy();
      throw new FailedPreconditionError(`cannot connect to attach socket ${socketPath}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    return sock;
  } finally {
    await dir.close();
  }
}

/** Writes one resize request to conmon's ctl fifo; a fifo nobody reads (conmon gone) is ignored. */
export async function writeResize(controlPath: string, size: TerminalSize): Promise<void> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: opening a fifo without a reader would otherwise block forever.
    handle = await fs.open(controlPath, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) === 'ENXIO' || errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  try {
    await handle.write(`1 ${Math.trunc(size.height)} ${Math.trunc(size.width)}\n`);
  } finally {
    await handle.close();
  }
}

/** Forwards resize events to the ctl fifo until the iterable ends. */
export async function forwardResizes(controlPath: string, resize: AsyncIterable<TerminalSize> | undefined): Promise<void> {
  if (!resize) return;
  for await (const size of resize) await writeResize(controlPath, size).catch(() => undefined);
}

/** What pumpAttachSocket does besides copying. */
export interface PumpOptions {
  /** Ends the session once the client's stdin ends (CRI-O: non-tty attach to a container that keeps stdin open). */
  returnOnStdinEnd?: boolean;
  /** Aborting disconnects (the process keeps running). */
  signal: AbortSignal;
}

/**
 * Copies between a connected attach socket and the client until conmon closes the socket (the
 * process ended), the client's stdin ends with `returnOnStdinEnd`, or the signal aborts. Always
 * leaves the socket destroyed.
 */
export function pumpAttachSocket(sock: SeqpacketSocket, io: StreamIo, options: PumpOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      options.signal.removeEventListener('abort', finish);
      io.stdin?.off('data', onStdin).off('end', onStdinEnd);
      sock.destroy();
      resolve();
    };
    const onStdin = (chunk: Buffer): void => {
      if (done) return;
      for (let off = 0; off < chunk.length; off += MAX_STDIN_PACKET) sock.write(chunk.subarray(off, off + MAX_STDIN_PACKET));
    };
    const onStdinEnd = (): void => {
      if (options.returnOnStdinEnd) return finish();
      if (!done) sock.end();
    };
    sock.on('data', (packet: Buffer) => {
      const data = packet.subarray(1);
      if (packet[0] === PIPE_STDOUT) io.stdout?.write(data);
      else if (packet[0] === PIPE_STDERR) io.stderr?.write(data);
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
    if (options.signal.aborted) return finish();
    options.signal.addEventListener('abort', finish, { once: true });
    io.stdin?.on('data', onStdin).on('end', onStdinEnd);
  });
}
