import path from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { constants as zlibConstants, createGzip, gunzip, type Gzip } from 'node:zlib';
import { InvalidArgumentError } from '../errors';
import { Crc64 } from './crc64';
import type { TarEntry, TarRecorder } from './tar-reader';

/**
 * tar-split metadata (github.com/vbatts/tar-split, the v0.11 format containers/storage keeps as
 * `overlay-layers/<id>.tar-split.gz`): everything of a layer tar except the files' content, so
 * the exact tar — and so the layer's digest — can be rebuilt from the unpacked files, which
 * `podman save` and `podman push` do. The file is gzip of JSON lines, one per entry:
 *   {"type":2,"payload":"<base64 raw bytes>","position":N}            a segment: headers, padding
 *   {"type":1,"name":"<path>","size":N,"payload":"<crc64>","position":N} a file: its content comes
 *                                                                       from <layer>/diff/<path>
 * Every tar entry gets a file line (size 0, payload null for all but regular files with content);
 * the raw bytes before it (the previous file's padding, extended headers, its own header) go in
 * the segment before it; the end blocks and anything after them end the file, followed by an empty
 * segment, as tar-split writes them. A sparse file's stored data is kept as raw bytes (its holes
 * are not in the tar, so the unpacked file cannot give the tar's bytes back). A layer naming one
 * path twice gets no tar-split (tar-split refuses duplicate paths, and c/storage then rebuilds the
 * tar from the files instead); `result()` says so.
 */

const FILE = 1;
const SEGMENT = 2;
/** tar-split reads what follows the end blocks in chunks of this size. */
const TAIL_CHUNK = 1 << 20;
const WHITEOUT_PREFIX = '.wh.';
/** Lines are handed to the compressor in batches of about this many bytes (a layer of 100 000 small files has ~80 MB of them). */
const BATCH_BYTES = 1 << 20;

/** What a layer tar's recording yields. */
export interface TarSplitResult {
  /** Gzipped tar-split data; undefined when the layer cannot be described (duplicate paths). */
  data: Buffer | undefined;
  /** Bytes of the whole tar stream (c/storage's UncompressedSize). */
  size: number;
  /** Sorted owners of the entries other than whiteouts (c/storage's uidset/gidset). */
  uids: number[];
  gids: number[];
}

/** Records a layer tar as it is unpacked (TarReader's recorder). */
export class TarSplitRecorder implements TarRecorder {
  private raw: Buffer[] = [];
  private rawBytes = 0;
  private total = 0;
  private lines: string[] = [];
  private linesBytes = 0;
  private readonly gz: Gzip = createGzip({ level: zlibConstants.Z_BEST_SPEED });
  private readonly compressed: Buffer[] = [];
  private position = 0;
  private crc: Crc64 | undefined;
  private file: { name: string; size: number } | undefined;
  private readonly seen = new Set<string>();
  private duplicate = false;
  private readonly uids = new Set<number>();
  private readonly gids = new Set<number>();

  bytes(b: Buffer): void {
    this.total += b.length;
    if (this.crc) {
      this.crc.update(b);
      return;
    }
    this.raw.push(b);
    this.rawBytes += b.length;
  }

  entry(e: TarEntry, contentBytes: number): void {
    this.flushRaw();
    if (!path.basename(e.name).startsWith(WHITEOUT_PREFIX)) {
      this.uids.add(e.uid);
      this.gids.add(e.gid);
    }
    const clean = path.posix.normalize(e.name);
    if (this.seen.has(clean)) this.duplicate = true;
    this.seen.add(clean);
    if (contentBytes > 0) {
      this.crc = new Crc64();
      this.file = { name: e.name, size: contentBytes };
      return;
    }
    this.emitFile(e.name, 0, undefined);
  }

  endContent(): void {
    if (!this.crc || !this.file) return;
    this.emitFile(this.file.name, this.file.size, this.crc.digest());
    this.crc = undefined;
    this.file = undefined;
  }

  end(): void {
    this.endContent();
    const tail = Buffer.concat(this.raw, this.rawBytes);
    this.raw = [];
    this.rawBytes = 0;
    for (let at = 0; at < tail.length; at += TAIL_CHUNK) this.emitSegment(tail.subarray(at, at + TAIL_CHUNK));
    this.emitSegment(Buffer.alloc(0));
  }

  constructor() {
    this.gz.on('data', (c: Buffer) => this.compressed.push(c));
  }

  /** The gzipped tar-split (BestSpeed, as c/storage compresses it) and the layer's sizes and owners. */
  async result(): Promise<TarSplitResult> {
    const byNumber = (a: number, b: number): number => a - b;
    const ended = once(this.gz, 'end');
    this.gz.end(Buffer.from(this.lines.join(''), 'utf8'));
    this.lines = [];
    await ended;
    const data = this.duplicate ? undefined : Buffer.concat(this.compressed);
    return { data, size: this.total, uids: [...this.uids].sort(byNumber), gids: [...this.gids].sort(byNumber) };
  }

  /** Drops the recording (the unpack failed). */
  discard(): void {
    this.gz.destroy();
    this.lines = [];
  }

  /** Queues a line; full batches go to the compressor (which runs on the thread pool meanwhile). */
  private push(line: string): void {
    this.lines.push(line);
    this.linesBytes += line.length;
    if (this.linesBytes < BATCH_BYTES) return;
    this.gz.write(Buffer.from(this.lines.join(''), 'utf8'));
    this.lines = [];
    this.linesBytes = 0;
  }

  private flushRaw(): void {
    if (this.rawBytes === 0) return;
    this.emitSegment(this.raw.length === 1 ? (this.raw[0] as Buffer) : Buffer.concat(this.raw, this.rawBytes));
    this.raw = [];
    this.rawBytes = 0;
  }

  private emitSegment(payload: Buffer): void {
    this.push(`{"type":${SEGMENT},"payload":${JSON.stringify(payload.toString('base64'))},"position":${this.position++}}\n`);
  }

  private emitFile(name: string, size: number, crc: Buffer | undefined): void {
    const sizeField = size > 0 ? `"size":${size},` : '';
    const payload = crc ? JSON.stringify(crc.toString('base64')) : 'null';
    this.push(`{"type":${FILE},"name":${JSON.stringify(name)},${sizeField}"payload":${payload},"position":${this.position++}}\n`);
  }
}

/** One parsed tar-split line. */
export interface TarSplitEntry {
  type: number;
  name?: string;
  size?: number;
  payload: Buffer | undefined;
}

/** Parses gzipped tar-split data (for checks and tests). */
export async function parseTarSplit(gz: Buffer): Promise<TarSplitEntry[]> {
  const text = (await promisify(gunzip)(gz)).toString('utf8');
  const out: TarSplitEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const v = JSON.parse(line) as { type?: unknown; name?: unknown; name_raw?: unknown; size?: unknown; payload?: unknown };
    if (typeof v.type !== 'number') throw new InvalidArgumentError('tar-split entry without a type');
    const name = typeof v.name === 'string' ? v.name : typeof v.name_raw === 'string' ? Buffer.from(v.name_raw, 'base64').toString('latin1') : undefined;
    out.push({
      type: v.type,
      ...(name !== undefined ? { name } : {}),
      ...(typeof v.size === 'number' ? { size: v.size } : {}),
      payload: typeof v.payload === 'string' ? Buffer.from(v.payload, 'base64') : undefined,
    });
  }
  return out;
}

/**
 * Rebuilds the layer tar from tar-split data and a function giving each file's content (as
 * tar-split's asm.WriteOutputTarStream does, checksums included).
 */
export async function assembleTar(entries: readonly TarSplitEntry[], content: (name: string) => Promise<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === SEGMENT) {
      if (e.payload) parts.push(e.payload);
      continue;
    }
    if (!e.size) continue;
    const data = await content(e.name ?? '');
    const crc = new Crc64();
    crc.update(data);
    if (!e.payload || !crc.digest().equals(e.payload)) throw new InvalidArgumentError(`file integrity checksum failed for ${JSON.stringify(e.name)}`);
    parts.push(data);
  }
  return Buffer.concat(parts);
}
