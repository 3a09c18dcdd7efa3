import type { Readable } from 'node:stream';
import { InternalError } from '../errors';

/**
 * Buffered pull access to a stream's chunks for the tar reader: bytes are taken as subarrays
 * of the chunks as they arrived (no copy), and the sync variants let the reader go on without
 * an await (and the promise it costs) while data is already buffered.
 */

/** Wraps an error the source stream raised, so callers can tell it from parse and write errors. */
export class StreamFailure extends Error {
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
    this.name = 'StreamFailure';
  }
}

/** Buffered pull access to a stream's chunks; errors of the stream surface from the awaits. */
export class ChunkSource {
  private readonly chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private ended = false;
  private readonly it: AsyncIterator<unknown>;
  /** Sees every consumed byte range in stream order (tar-split recording); unset in the fast path. */
  observer: ((bytes: Buffer) => void) | undefined;

  constructor(private readonly stream: Readable) {
    // The iterator listens only once first pulled; until then an 'error' must not go unhandled
    // (it is not lost: the iterator reports the stream's stored error).
    stream.on('error', () => undefined);
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Bytes available without waiting. */
  get available(): number {
    return this.buffered;
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    let r: IteratorResult<unknown>;
    try {
      r = await this.it.next();
    } catch (err) {
      if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') {
        throw new InternalError('layer stream closed before its end', { cause: err });
      }
      throw new StreamFailure(err);
    }
    if (r.done) {
      this.ended = true;
      return false;
    }
    const c = r.value;
    if (!(c instanceof Uint8Array)) throw new InternalError('layer stream yielded a non-binary chunk');
    if (c.length > 0) {
      this.chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      this.buffered += c.length;
    }
    return true;
  }

  /** Waits until `n` bytes are buffered; false if the stream ends first. */
  async ensure(n: number): Promise<boolean> {
    while (this.buffered < n) if (!(await this.pull())) return false;
    return true;
  }

  /** Takes exactly `n` buffered bytes (call ensure first). */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) return this.takeFirst(n);
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const part = this.takeFirst(Math.min(left, (this.chunks[0]?.length ?? 0) - this.head));
      parts.push(part);
      left -= part.length;
    }
    return Buffer.concat(parts, n);
  }

  /** Up to `max` bytes from the first buffered chunk (no copy); undefined at the end of the stream. */
  async piece(max: number): Promise<Buffer | undefined> {
    if (this.buffered === 0 && !(await this.ensure(1))) return undefined;
    return this.takeFirst(Math.min(max, (this.chunks[0]?.length ?? 0) - this.head));
  }

  /** Up to `max` buffered bytes without waiting; undefined when nothing is buffered. */
  pieceSync(max: number): Buffer | undefined {
    if (this.buffered === 0) return undefined;
    return this.takeFirst(Math.min(max, (this.chunks[0]?.length ?? 0) - this.head));
  }

  /** Discards up to `n` buffered bytes without waiting; returns how many. */
  skipSync(n: number): number {
    let done = 0;
    while (done < n && this.buffered > 0) done += this.takeFirst(Math.min(n - done, (this.chunks[0]?.length ?? 0) - this.head)).length;
    return done;
  }

  /** Reads and discards the rest of the stream. */
  async drain(): Promise<void> {
    const observe = (): void => {
      if (!this.observer) return;
      this.chunks.forEach((c, i) => this.observer?.(i === 0 ? c.subarray(this.head) : c));
    };
    observe();
    this.chunks.length = 0;
    this.head = 0;
    this.buffered = 0;
    while (await this.pull()) {
      observe();
      this.chunks.length = 0;
      this.buffered = 0;
    }
  }

  /** Stops the stream (its iterator destroys it). */
  async close(): Promise<void> {
    if (!this.ended) await this.it.return?.().catch(() => undefined);
    this.stream.destroy();
  }

  private takeFirst(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    const out = first.subarray(this.head, this.head + n);
    this.observer?.(out);
    this.head += n;
    this.buffered -= n;
    if (this.head === first.length) {
      this.chunks.shift();
      this.head = 0;
    }
    return out;
  }
}
