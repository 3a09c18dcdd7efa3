import { ftruncateSync, writeSync } from 'node:fs';

/**
 * Writes a regular file's content at given positions into a freshly created (empty) file and
 * leaves holes where the content is zero: a sparse file stays sparse whether the layer stored
 * it in a GNU sparse format or as plain zeros (a big /var/log/lastlog, a preallocated image),
 * and a hole costs neither a write nor disk space. Skipping is safe only because the file is
 * new: bytes never written read back as zeros. Synchronous on purpose: the unpacker does small
 * writes by the thousand, and a thread-pool round trip per write costs several times the write.
 */

/** Zero runs are detected per block of this size, aligned to file offsets (the fs block size). */
const HOLE_BLOCK = 4096;
const ZEROS = Buffer.alloc(HOLE_BLOCK);

/** Positional writer for one file descriptor. */
export class HoleWriter {
  /** One past the last byte actually written. */
  private written = 0;

  constructor(private readonly fd: number) {}

  /** Writes `chunk` at `position`, skipping whole zero blocks. */
  write(chunk: Buffer, position: number): void {
    let runStart = -1;
    let i = 0;
    while (i < chunk.length) {
      const blockEnd = Math.min(chunk.length, i + HOLE_BLOCK - ((position + i) % HOLE_BLOCK));
      const zero = chunk.compare(ZEROS, 0, blockEnd - i, i, blockEnd) === 0;
      if (zero && runStart >= 0) {
        this.writeAll(chunk, runStart, i, position + runStart);
        runStart = -1;
      } else if (!zero && runStart < 0) {
        runStart = i;
      }
      i = blockEnd;
    }
    if (runStart >= 0) this.writeAll(chunk, runStart, chunk.length, position + runStart);
  }

  /** Gives the file its full length: trailing holes are not written, so they need a truncate. */
  finish(size: number): void {
    if (this.written < size) ftruncateSync(this.fd, size);
  }

  private writeAll(buf: Buffer, from: number, to: number, position: number): void {
    let off = from;
    let pos = position;
    while (off < to) {
      const n = writeSync(this.fd, buf, off, to - off, pos);
      off += n;
      pos += n;
    }
    this.written = Math.max(this.written, pos);
  }
}
