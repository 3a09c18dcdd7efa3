import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { FailedPreconditionError } from '../errors';

/**
 * A pass-through stream that hashes what flows through it and fails at EOF when the sha256
 * digest (and, if given, the size) differs from what the manifest or config declared — the
 * digesting reader of c/image. Readers downstream see an error instead of a clean end, so
 * unverified content is never committed.
 */
export class DigestVerifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private ok = false;

  /** `what` names the blob in error messages ("layer sha256:… of docker.io/library/busybox"). */
  constructor(
    private readonly expected: { digest: string; size?: number },
    private readonly what: string,
  ) {
    super();
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** True once the stream ended and matched. */
  get verified(): boolean {
    return this.ok;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    const max = this.expected.size;
    if (max !== undefined && this.count > max) {
      cb(new FailedPreconditionError(`${this.what}: more data than the declared size ${max}`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const size = this.expected.size;
    if (size !== undefined && this.count !== size) {
      cb(new FailedPreconditionError(`${this.what}: size mismatch: expected ${size} bytes, got ${this.count}`));
      return;
    }
    const actual = 'sha256:' + this.hash.digest('hex');
    if (actual !== this.expected.digest) {
      cb(new FailedPreconditionError(`${this.what}: digest mismatch: expected ${this.expected.digest}, got ${actual}`));
      return;
    }
    this.ok = true;
    cb();
  }
}
