import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { InternalError } from '../errors';
import type { Logger } from '../log';
import { fromWire, type FromWorker, type ToWorker, type WorkerDecode, type WorkerResult } from './unpack-wire';

/**
 * Layer unpacks on worker threads (unpack-worker.ts). The daemon's thread keeps the download,
 * the digests and the decompression (zlib's thread pool) and hands each layer's tar to a
 * worker, so the file system work of several layers runs side by side on every core instead
 * of in slices of the one event loop. Workers start with the first layer of a pull and exit
 * after a few idle seconds: an idle daemon carries none (each is a V8 isolate of its own).
 */

/** Layers unpacked at once: the floor (parallel `tar -x`) gains up to about twice the cores on small files. */
const MAX_WORKERS = Math.max(2, Math.min(4, availableParallelism() * 2));
/** How long an idle worker waits for the next layer before it exits. */
let idleExitMs = 5_000;

/** Sets how long idle workers stay (tests race a new layer against an exiting worker). */
export function setUnpackWorkerIdleExit(ms: number): void {
  idleExitMs = ms;
}
/** Tar bytes sent but not yet taken by the worker's unpacker. */
const WINDOW_BYTES = 4 << 20;
/** Bytes per message to a worker. */
const BATCH_BYTES = 1 << 20;

interface PooledWorker {
  worker: Worker;
  idleTimer?: NodeJS.Timeout;
  /** The job this worker runs (its messages go there). */
  onMessage?: (m: FromWorker) => void;
  onExit?: (err: Error) => void;
}

const idle: PooledWorker[] = [];
let running = 0;
const waiting: ((w: PooledWorker) => void)[] = [];

function spawnWorker(): PooledWorker {
  // node:worker_threads is loaded with the first pull, not at start (issue 17: idle RSS).
  const { Worker: WorkerThread } = require('node:worker_threads') as typeof import('node:worker_threads');
  const worker: Worker = new WorkerThread(path.join(__dirname, 'unpack-worker.js'), {
    // Young generation as small as the daemon's (lib/server/v8-flags.ts): chunks go by fast.
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
    stdout: false,
    stderr: false,
  });
  const pw: PooledWorker = { worker };
  worker.on('message', (m: FromWorker) => pw.onMessage?.(m));
  worker.on('error', (err) => pw.onExit?.(err));
  worker.on('exit', (code) => {
    const at = idle.indexOf(pw);
    if (at >= 0) idle.splice(at, 1);
    pw.onExit?.(new InternalError(`layer unpack worker exited (code ${code})`));
  });
  return pw;
}

async function acquire(): Promise<PooledWorker> {
  const ready = idle.pop();
  if (ready) {
    clearTimeout(ready.idleTimer);
    running++;
    ready.worker.ref();
    return ready;
  }
  if (running < MAX_WORKERS) {
    running++;
    return spawnWorker();
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function release(pw: PooledWorker, healthy: boolean): void {
  pw.onMessage = undefined;
  pw.onExit = undefined;
  const next = waiting.shift();
  if (!healthy) {
    void pw.worker.terminate();
    if (next) next(spawnWorker());
    else running--;
    return;
  }
  if (next) return next(pw);
  running--;
  // Busy, a worker keeps the process alive (the pull waits on it); idle, it must not.
  pw.worker.unref();
  pw.idleTimer = setTimeout(() => {
    // Out of the idle list first: a terminating worker must not be handed the next layer.
    const at = idle.indexOf(pw);
    if (at >= 0) idle.splice(at, 1);
    void pw.worker.terminate();
  }, idleExitMs);
  pw.idleTimer.unref();
  idle.push(pw);
}

/** Options for unpackInWorker. */
export interface WorkerUnpackOptions {
  log: Logger;
  signal: AbortSignal;
  /** `tar` is a layer blob: the worker decompresses it and checks its DiffID. Its chunks are handed over. */
  decode?: WorkerDecode;
}

/** Smallest chunk worth a message of its own; smaller ones go into a batch. */
const OWN_MESSAGE_BYTES = 16 << 10;

/**
 * The chunk's memory when moving it to the worker takes nothing from anyone: it spans its
 * whole ArrayBuffer (so no other view shares it) and is big enough to be worth a message.
 * Callers hand over streams whose chunks they no longer read once emitted.
 */
function ownedMemory(chunk: Buffer): ArrayBuffer | undefined {
  const memory = chunk.buffer;
  return chunk.length >= OWN_MESSAGE_BYTES && chunk.byteOffset === 0 && chunk.byteLength === memory.byteLength && memory instanceof ArrayBuffer ? memory : undefined;
}

/**
 * Unpacks `tar` into the existing directory `diffDir` on a worker, as unpackLayer does (same
 * contract: every escape refused, the stream read to its end so its digest checks run, an error
 * the stream raised rethrown as is, the partial tree left for the caller), and returns the
 * tar-split recording and the tree's inventory with it. With `decode`, chunks `tar` emits may be
 * moved to the worker (detached here): nothing else may read them once emitted.
 */
export async function unpackInWorker(tar: Readable, diffDir: string, o: WorkerUnpackOptions): Promise<WorkerResult> {
  o.signal.throwIfAborted();
  const pw = await acquire();
  const send = (m: ToWorker): void => pw.worker.postMessage(m);
  let healthy = true;
  try {
    return await new Promise<WorkerResult>((resolve, reject) => {
      let inflight = 0;
      let streamError: unknown;
      let settled = false;
      const finish = (err: unknown, result?: WorkerResult): void => {
        if (settled) return;
        settled = true;
        tar.off('data', onData);
        tar.off('end', onEnd);
        tar.off('error', onError);
        tar.off('close', onClose);
        o.signal.removeEventListener('abort', onAbort);
        if (err === undefined && result) resolve(result);
        else reject(err);
      };
      // A failed stream or a cancel stops the worker; the job settles with the cause once it has.
      let stopReason: unknown;
      const stop = (reason: unknown): void => {
        if (stopReason !== undefined) return;
        stopReason = reason;
        send({ type: 'abort' });
        if (!tar.destroyed) tar.destroy();
      };
      // A blob's chunk that is the whole of its memory (the socket's reads are) is moved to the
      // worker, not copied. Others (views into a larger buffer, zlib's or a pool's, which a clone
      // would copy whole) are copied into batches of their own, moved a batch at a time. A slow
      // download only makes the worker wait for a full batch; the window stays open, since at
      // most one batch of it is unsent.
      let batch: Uint8Array<ArrayBuffer> | undefined;
      let batchUsed = 0;
      const flush = (): void => {
        if (!batch || batchUsed === 0) return;
        const data = batchUsed === batch.length ? batch : batch.subarray(0, batchUsed);
        pw.worker.postMessage({ type: 'chunk', data } satisfies ToWorker, [batch.buffer]);
        batch = undefined;
        batchUsed = 0;
      };
      const onData = (chunk: Buffer): void => {
        inflight += chunk.length;
        // Only a blob's chunks are handed over (LayerSink's contract for `decode`); a tar's source may reuse its buffers.
        const memory = o.decode ? ownedMemory(chunk) : undefined;
        if (memory) {
          flush();
          pw.worker.postMessage({ type: 'chunk', data: chunk } satisfies ToWorker, [memory]);
        } else {
          for (let at = 0; at < chunk.length; ) {
            batch ??= new Uint8Array(BATCH_BYTES);
            const n = Math.min(chunk.length - at, batch.length - batchUsed);
            batch.set(chunk.subarray(at, at + n), batchUsed);
            batchUsed += n;
            at += n;
            if (batchUsed === batch.length) flush();
          }
        }
        if (inflight >= WINDOW_BYTES) tar.pause();
      };
      const onEnd = (): void => {
        flush();
        send({ type: 'end' });
      };
      const onError = (err: Error): void => {
        streamError = err;
        stop(err);
      };
      const onAbort = (): void => stop(o.signal.reason);
      pw.onMessage = (m) => {
        switch (m.type) {
          case 'ack':
            inflight -= m.bytes;
            if (inflight < WINDOW_BYTES && tar.isPaused() && stopReason === undefined) tar.resume();
            break;
          case 'log':
            o.log[m.level](m.message, m.fields);
            break;
          case 'done':
            if (stopReason !== undefined) return finish(stopReason);
            finish(undefined, { ...m.result, split: { ...m.result.split, data: m.result.split.data && Buffer.from(m.result.split.data.buffer, m.result.split.data.byteOffset, m.result.split.data.byteLength) } });
            break;
          case 'failed':
            // The stream's own error (a digest mismatch, a failed download) wins, as in unpackLayer.
            if (streamError !== undefined) return finish(streamError);
            if (stopReason !== undefined) return finish(stopReason);
            if (!tar.destroyed) tar.destroy();
            finish(fromWire(m.error));
            break;
        }
      };
      pw.onExit = (err) => {
        healthy = false;
        if (!tar.destroyed) tar.destroy();
        finish(err);
      };
      // A stream that stops without an end failed, even when its error went by before we listened
      // (a small blob is read whole, and its digest checked, while the layer waits for a worker).
      const onClose = (): void => {
        if (!tar.readableEnded && streamError === undefined) onError(tar.errored ?? new InternalError('the layer stream closed before its end'));
      };
      tar.on('error', onError);
      tar.on('data', onData);
      tar.on('end', onEnd);
      tar.on('close', onClose);
      o.signal.addEventListener('abort', onAbort, { once: true });
      send({ type: 'start', diffDir, ...(o.decode ? { decode: o.decode } : {}) });
      if (tar.destroyed) onClose();
      if (o.signal.aborted) onAbort();
    });
  } finally {
    release(pw, healthy);
  }
}
