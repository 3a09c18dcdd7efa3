import { PassThrough, Transform, type Readable, type TransformCallback, type TransformOptions } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import type { Decompress } from 'fzstd';
import { FailedPreconditionError, UnimplementedError } from '../errors';

/**
 * Layer decompression chosen by magic bytes, as c/storage's pkg/archive does (the media type may lie):
 * gzip (node zlib), zstd including zstd:chunked's skippable frames (fzstd, pure JS, streaming),
 * or an uncompressed tar. bzip2 and xz are refused by name.
 */

/** What a layer blob turned out to be. */
export type DetectedCompression = 'gzip' | 'zstd' | 'none';

const MAGIC: [string, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  // A zstd skippable frame (zstd:chunked may start with one).
  ['zstd', [0x50, 0x2a, 0x4d, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

/** Classifies the first bytes of a blob; throws UnimplementedError for bzip2/xz. */
export function detectCompression(head: Uint8Array, what: string): DetectedCompression {
  for (const [kind, magic] of MAGIC) {
    const skippable = kind === 'zstd' && magic[0] === 0x50;
    const hit = skippable ? (head[0] ?? 0) >= 0x50 && (head[0] ?? 0) <= 0x5f && magic.slice(1).every((b, i) => head[i + 1] === b) : magic.every((b, i) => head[i] === b);
    if (!hit) continue;
    if (kind === 'gzip' || kind === 'zstd') return kind;
    throw new UnimplementedError(`${what} is ${kind}-compressed, which is not supported (gzip, zstd or uncompressed only)`);
  }
  return 'none';
}

/** A streaming zstd decoder as a node Transform (fzstd underneath). */
export class ZstdDecompressor extends Transform {
  // fzstd is loaded with the first zstd layer: most images are gzip and most days pull nothing.
  private readonly decoder: Decompress = new (require('fzstd') as typeof import('fzstd')).Decompress((chunk) => {
    if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  });

  constructor(private readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      cb();
    } catch (err) {
      cb(this.zstdError(err));
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(this.zstdError(err));
    }
  }

  private zstdError(err: unknown): Error {
    return new FailedPreconditionError(`${this.what}: invalid zstd data: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** Reads until `n` bytes are buffered (or the stream ends) and puts them back: the stream is unchanged. */
export async function peek(stream: Readable, n: number): Promise<Buffer> {
  for (;;) {
    const buf = stream.read(n) as Buffer | null;
    if (buf !== null) {
      stream.unshift(buf);
      return buf;
    }
    if (stream.readableEnded) return Buffer.alloc(0);
    if (stream.errored) throw stream.errored;
    await readableOrEnd(stream);
  }
}

/** Waits for 'readable', 'end' or 'error', leaving no listener behind. */
function readableOrEnd(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.off('readable', onReadable);
      stream.off('end', onReadable);
      stream.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onReadable = (): void => done();
    stream.on('readable', onReadable);
    stream.on('end', onReadable);
    stream.on('error', done);
  });
}

/**
 * Output chunk of the gunzip stream. Each chunk is one thread-pool round trip and one trip
 * through the stream stages on the main thread; at zlib's default 16 KiB those cost about
 * as much as inflating the chunk (measured: ~2× faster gunzip + sha256 at 256 KiB). A few
 * chunks may wait unread, so inflating goes on while the main thread writes files.
 */
const GUNZIP_CHUNK = 256 * 1024;
const GUNZIP_READ_AHEAD = 4 * GUNZIP_CHUNK;

/** The decoder for a detected compression (a pass-through for an uncompressed tar). */
export function decompressorFor(kind: DetectedCompression, what: string): Transform {
  if (kind === 'gzip') {
    // zlib streams hand their options on to Transform, which takes the read-ahead.
    const options: ZlibOptions & TransformOptions = { chunkSize: GUNZIP_CHUNK, readableHighWaterMark: GUNZIP_READ_AHEAD };
    return createGunzip(options);
  }
  if (kind === 'zstd') return new ZstdDecompressor(what);
  return new PassThrough();
}
