import { Transform, type TransformCallback } from 'node:stream';
import { DeadlineExceededError } from '../errors';
import type { Logger } from '../log';
import type { MetricsRecorder } from '../metrics/recorder';

/**
 * Byte accounting for one pull: a meter every downloaded byte flows through, a periodic
 * `pull progress` log line with bytes and rate, and CRI-O's `pull_progress_timeout` — when no
 * byte arrives for that long the pull's signal aborts with DeadlineExceededError (0 = never).
 */

/** Options for PullProgress. */
export interface PullProgressOptions {
  /** The image being pulled, for logs and the timeout message. */
  image: string;
  /** No progress for this long cancels the pull; 0 disables. */
  timeoutMs: number;
  /** How often to log progress; 0 disables the periodic line. */
  logIntervalMs: number;
  log: Logger;
  /** Where blob bytes are counted (image_pulls_bytes_total, image_pulls_layer_size). */
  metrics?: MetricsRecorder;
}

/** The blob a meter counts, for the pull metrics' labels. */
export interface MeteredBlob {
  mediaType: string;
  size: number;
  /** A layer (counted in the layer-size histogram when complete), not a config. */
  layer: boolean;
}

/** Progress of one pull. */
export class PullProgress {
  private readonly controller = new AbortController();
  private readonly started = Date.now();
  private bytesSeen = 0;
  private lastProgress = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: PullProgressOptions) {
    if (options.timeoutMs > 0) {
      // CRI-O checks at a tenth of the timeout (ProgressInterval = timeout / 10).
      const check = setInterval(() => this.checkStall(), Math.max(10, Math.floor(options.timeoutMs / 10)));
      check.unref();
      this.timers.push(check);
    }
    if (options.logIntervalMs > 0) {
      const logTimer = setInterval(() => this.logProgress(), options.logIntervalMs);
      logTimer.unref();
      this.timers.push(logTimer);
    }
  }

  /** Aborts when the pull stalls. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Bytes received so far. */
  get bytes(): number {
    return this.bytesSeen;
  }

  /** Average rate since the start, bytes per second. */
  get bytesPerSecond(): number {
    const s = (Date.now() - this.started) / 1000;
    return s > 0 ? Math.round(this.bytesSeen / s) : 0;
  }

  /** Records `n` bytes received (manifests, configs). */
  add(n: number): void {
    this.bytesSeen += n;
    this.lastProgress = Date.now();
  }

  /** A pass-through that counts what flows through it; the blob's bytes go to the metrics once it closes. */
  meter(blob?: MeteredBlob): Transform {
    let bytes = 0;
    const t = new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) => {
        this.add(chunk.length);
        bytes += chunk.length;
        cb(null, chunk);
      },
      flush: (cb: TransformCallback) => {
        if (blob?.layer) this.options.metrics?.imagePullLayerDone(blob.size);
        cb();
      },
    });
    if (blob && this.options.metrics) {
      const metrics = this.options.metrics;
      t.once('close', () => metrics.imagePullBytes(blob.mediaType, blob.size, bytes));
    }
    // The meter joins two pipelines; each reports errors itself, so an error emitted after the
    // upstream one finished must not become an uncaught exception.
    t.on('error', () => undefined);
    return t;
  }

  /** Stops the timers. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }

  private checkStall(): void {
    const idle = Date.now() - this.lastProgress;
    if (idle < this.options.timeoutMs || this.controller.signal.aborted) return;
    this.controller.abort(
      new DeadlineExceededError(`pulling image ${this.options.image}: no progress for ${this.options.timeoutMs} ms (pull_progress_timeout), pull cancelled`),
    );
    this.close();
  }

  private logProgress(): void {
    this.options.log.info('pull progress', { image: this.options.image, bytes: this.bytesSeen, bytesPerSecond: this.bytesPerSecond });
  }
}
