import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoCode, NotFoundError } from '../errors';
import { syncDir } from '../fsutil';
import { DigestVerifier } from '../storage/digest-stream';
import { digestHex } from './reference';

/**
 * Blobs addressed by digest at `<root>/blobs/sha256/<hex>` (containerd's local content store).
 * Writes go to `<root>/ingest/<random>` while being hashed, and become visible only after size
 * and digest match: fsync → rename → fsync dir (containerd writer.go Commit). A crash leaves at
 * most a file in ingest/, which init() removes.
 */

/** The size and digest a blob must have. */
export interface ExpectedBlob {
  digest: string;
  size: number;
}

/** A verified blob kept in ingest/ (not committed), e.g. a layer waiting to be unpacked. */
export interface StagedBlob extends ExpectedBlob {
  path: string;
  /** Deletes the staged file; safe to call twice. */
  remove(): Promise<void>;
}

/** Where blob bytes come from. */
export type BlobSource = Readable | Uint8Array;

/** Digest-addressed blob storage with verified, crash-safe commits. */
export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  /** Creates the directories and drops ingests left by a crash. */
  async init(): Promise<void> {
    await fs.mkdir(this.blobDir, { recursive: true });
    await fs.rm(this.ingestDir, { recursive: true, force: true });
    await fs.mkdir(this.ingestDir, { recursive: true });
  }

  /** The file of a committed blob (whether or not it exists). */
  blobPath(digest: string): string {
    return path.join(this.blobDir, digestHex(digest));
  }

  /** True when the blob is committed. */
  async has(digest: string): Promise<boolean> {
    try {
      await fs.access(this.blobPath(digest));
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** The bytes of a committed blob; NotFoundError when absent. */
  async read(digest: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(digest));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`content ${digest} not found`, { cause: err });
      throw err;
    }
  }

  /** Verifies and commits a blob. A mismatch rejects and leaves nothing in blobs/ or ingest/. */
  async put(expected: ExpectedBlob, source: BlobSource, signal?: AbortSignal): Promise<void> {
    const tmp = await this.ingest(expected, source, true, signal);
    try {
      await fs.chmod(tmp, 0o444);
      await fs.rename(tmp, this.blobPath(expected.digest));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await syncDir(this.blobDir);
  }

  /** Verifies a blob into ingest/ without committing it; the caller must `remove()` it. */
  async stage(expected: ExpectedBlob, source: BlobSource, signal?: AbortSignal): Promise<StagedBlob> {
    const file = await this.ingest(expected, source, false, signal);
    return { ...expected, path: file, remove: () => fs.rm(file, { force: true }) };
  }

  /** Removes a committed blob; absent is fine. */
  async delete(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  /** Digests of all committed blobs. */
  async list(): Promise<string[]> {
    const names = await fs.readdir(this.blobDir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  private async ingest(expected: ExpectedBlob, source: BlobSource, durable: boolean, signal?: AbortSignal): Promise<string> {
    digestHex(expected.digest); // reject malformed digests before touching the disk
    const tmp = path.join(this.ingestDir, randomBytes(12).toString('hex'));
    // The write stream owns and closes the handle; `flush` fsyncs it first when durability matters.
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      const input = source instanceof Uint8Array ? Readable.from([Buffer.from(source)]) : source;
      const verifier = new DigestVerifier(expected, `blob ${expected.digest}`);
      await pipeline(input, verifier, fh.createWriteStream({ flush: durable }), signal ? { signal } : {});
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
      throw err;
    }
    return tmp;
  }
}
