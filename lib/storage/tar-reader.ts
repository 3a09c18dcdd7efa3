import type { Readable } from 'node:stream';
import { InternalError, InvalidArgumentError } from '../errors';
import { ChunkSource } from './chunk-source';
import {
  BLOCK_SIZE,
  checkSparseMap,
  decodeHeader,
  decodeSparseExtension,
  isZeroBlock,
  paxInteger,
  parsePaxRecords,
  parseSparseList,
  parseSparseMap1x0,
  paxTime,
  type PaxRecord,
  type RawHeader,
  type SparseSegment,
  type TarEntryType,
} from './tar-header';

/**
 * A streaming tar reader written for untrusted layers. tar-stream (used to build test archives)
 * hands PAX values over as UTF-8 strings, which mangles binary xattrs like security.capability,
 * and knows no sparse files; this reader keeps PAX values as bytes and expands all GNU sparse
 * forms into (chunk, file position) pieces. Memory stays bounded: metadata records are capped
 * and content is passed on chunk by chunk as the source delivers it.
 */

/** One archive entry, with everything from its PAX / GNU long-name records applied. */
export interface TarEntry {
  name: string;
  linkname: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (fractional from PAX). */
  mtime: number;
  devmajor: number;
  devminor: number;
  /** Size of the file's content; for sparse files the real size, holes included. */
  size: number;
  /** `SCHILY.xattr.*` records, values as the raw bytes. */
  xattrs: { name: string; value: Buffer }[];
  /** Where the stored data goes in a sparse file; undefined for an ordinary one. */
  sparse?: SparseSegment[];
}

/** Receives content: `chunk` belongs at byte `position` of the file. */
export type ContentSink = (chunk: Buffer, position: number) => void;

/**
 * Watches the archive's bytes as they are consumed (see tar-split.ts): `entry` announces each
 * entry once its headers were read, with how many of the bytes that follow are its content;
 * `endContent` comes when those are consumed, `end` after the last byte of the stream.
 */
export interface TarRecorder {
  bytes(b: Buffer): void;
  entry(e: TarEntry, contentBytes: number): void;
  endContent(): void;
  end(): void;
}

/** GNU/PAX metadata records larger than this are refused (Go's archive/tar uses the same cap). */
const MAX_META_BYTES = 1 << 20;
/** More sparse segments than this are refused: the map is held in memory. */
const MAX_SPARSE_SEGMENTS = 100_000;
const XATTR_PREFIX = 'SCHILY.xattr.';
const HEADER_ONLY = new Set<TarEntryType>(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);
const utf8 = new TextDecoder('utf-8');

function invalid(why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid layer tar: ${why}`);
}

function padding(size: number): number {
  const rem = size % BLOCK_SIZE;
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}

/** Reads entries one by one; the unread content of an entry is skipped by the next `next()`. */
export class TarReader {
  private readonly src: ChunkSource;
  /** Archive bytes of the current entry's data (and then padding) not yet consumed. */
  private dataLeft = 0;
  private padLeft = 0;
  private current: TarEntry | undefined;
  private done = false;
  private readonly recorder: TarRecorder | undefined;

  constructor(source: Readable, options: { recorder?: TarRecorder } = {}) {
    this.src = new ChunkSource(source);
    this.recorder = options.recorder;
    if (this.recorder) {
      const r = this.recorder;
      this.src.observer = (b) => r.bytes(b);
    }
  }

  /** The next entry, or undefined once the end marker was read and the rest of the stream drained. */
  async next(): Promise<TarEntry | undefined> {
    if (this.recorder) {
      // The content's bytes and the padding after it are told apart for the recorder.
      const data = this.skip(this.dataLeft);
      if (data) await data;
      this.dataLeft = 0;
      this.recorder.endContent();
    }
    const skipping = this.skip(this.dataLeft + this.padLeft);
    if (skipping) await skipping;
    this.dataLeft = 0;
    this.padLeft = 0;
    this.current = undefined;
    if (this.done) return undefined;
    let pax: PaxRecord[] | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      // Most headers are already buffered: no await (and no promise) for them.
      const block = this.src.available >= BLOCK_SIZE ? this.src.take(BLOCK_SIZE) : await this.block(pax || longName || longLink ? 'an entry after its extended header' : undefined);
      if (block === undefined || isZeroBlock(block)) {
        if (pax || longName !== undefined || longLink !== undefined) throw invalid('archive ends after an extended header');
        // Go accepts one zero block followed by the end of the stream, and then stops reading; the
        // stream is still read to its end so the caller's digest check sees every byte.
        if (block !== undefined) {
          const second = await this.block(undefined);
          if (second !== undefined && !isZeroBlock(second)) throw invalid('zero block followed by data');
        }
        this.done = true;
        await this.src.drain();
        this.recorder?.end();
        return undefined;
      }
      const h = decodeHeader(block);
      switch (h.kind) {
        case 'pax':
          pax = parsePaxRecords(await this.meta(h));
          continue;
        case 'pax-global':
          // Docker and containerd ignore global headers; honouring one would rename every later entry.
          await this.meta(h);
          continue;
        case 'gnu-long-name':
          longName = cString(await this.meta(h));
          continue;
        case 'gnu-long-link':
          longLink = cString(await this.meta(h));
          continue;
        case 'skip':
          await this.skip(h.size + padding(h.size));
          continue;
        default:
          this.current = await this.entry(h, h.kind, pax ?? [], longName, longLink);
          // Only a plain file's stored bytes are its content; a sparse file's data stays raw.
          this.recorder?.entry(this.current, this.current.type === 'file' && !this.current.sparse ? this.dataLeft : 0);
          return this.current;
      }
    }
  }

  /** Streams the current entry's content to `sink`; a sparse file's holes are not passed on. */
  async readContent(sink: ContentSink): Promise<void> {
    const entry = this.current;
    if (!entry) throw new InternalError('readContent called without a current entry');
    const segments = entry.sparse ?? [{ offset: 0, length: this.dataLeft }];
    for (const seg of segments) {
      let pos = seg.offset;
      let left = seg.length;
      while (left > 0) {
        const piece = this.src.pieceSync(left) ?? (await this.src.piece(left));
        if (!piece) throw invalid(`archive ends inside entry ${JSON.stringify(entry.name)}`);
        this.dataLeft -= piece.length;
        left -= piece.length;
        sink(piece, pos);
        pos += piece.length;
      }
    }
  }

  /** Stops reading and destroys the source stream. */
  async close(): Promise<void> {
    await this.src.close();
  }

  private async entry(h: RawHeader, type: TarEntryType, pax: readonly PaxRecord[], longName: string | undefined, longLink: string | undefined): Promise<TarEntry> {
    const rec = new Map<string, Buffer>();
    const xattrs: { name: string; value: Buffer }[] = [];
    const sparse0: string[] = [];
    for (const r of pax) {
      if (r.key.startsWith(XATTR_PREFIX)) xattrs.push({ name: r.key.slice(XATTR_PREFIX.length), value: r.value });
      // PAX 0.0 repeats these two keys once per segment.
      else if (r.key === 'GNU.sparse.offset' || r.key === 'GNU.sparse.numbytes') sparse0.push(r.value.toString('latin1'));
      else rec.set(r.key, r.value);
    }
    const text = (k: string): string | undefined => {
      const v = rec.get(k);
      return v === undefined ? undefined : utf8.decode(v);
    };
    const num = (k: string, fallback: number): number => {
      const v = rec.get(k);
      return v === undefined ? fallback : paxInteger(v, k);
    };
    const mtimeRec = rec.get('mtime');
    const entry: TarEntry = {
      name: text('path') ?? longName ?? h.name,
      linkname: text('linkpath') ?? longLink ?? h.linkname,
      type,
      mode: h.mode & 0o7777,
      uid: num('uid', h.uid),
      gid: num('gid', h.gid),
      mtime: mtimeRec === undefined ? h.mtime : paxTime(mtimeRec, 'mtime'),
      devmajor: h.devmajor,
      devminor: h.devminor,
      size: num('size', h.size),
      xattrs,
    };
    if (entry.size < 0 || entry.uid < 0 || entry.gid < 0) throw invalid(`entry ${JSON.stringify(entry.name)} has a negative size or id`);
    // Go treats these types as header-only whatever their size field says; so must we, or the
    // same bytes would unpack differently here than where the layer was built.
    let dataSize = HEADER_ONLY.has(type) && h.typeflag !== 'D' ? 0 : entry.size;
    if (h.gnuSparse) {
      entry.sparse = await this.oldGnuSparse(h.gnuSparse.segments, h.gnuSparse.extended, entry.name);
      entry.size = h.gnuSparse.realSize;
    } else if (type === 'file') {
      const sparse = await this.paxSparse(rec, sparse0, entry, dataSize);
      if (sparse) {
        dataSize = sparse.dataSize;
        entry.sparse = sparse.segments;
        entry.name = text('GNU.sparse.name') ?? entry.name;
      }
    }
    if (entry.sparse) {
      const covered = checkSparseMap(entry.sparse, entry.size, entry.name);
      if (covered !== dataSize) throw invalid(`entry ${JSON.stringify(entry.name)}: sparse map covers ${covered} bytes but ${dataSize} are stored`);
    }
    if (h.typeflag === 'D') {
      // GNU dumpdir: the data is a listing for incremental restores, not content.
      await this.skip(dataSize + padding(dataSize));
      dataSize = 0;
    }
    this.dataLeft = dataSize;
    this.padLeft = padding(dataSize);
    if (type !== 'file') {
      entry.size = 0;
      const skipping = this.skip(this.dataLeft + this.padLeft);
      if (skipping) await skipping;
      this.dataLeft = 0;
      this.padLeft = 0;
    }
    return entry;
  }

  private async oldGnuSparse(first: SparseSegment[], extended: boolean, name: string): Promise<SparseSegment[]> {
    const segments = [...first];
    for (let more = extended; more; ) {
      const block = await this.block(`the sparse map of ${JSON.stringify(name)}`);
      if (!block) throw invalid(`archive ends inside the sparse map of ${JSON.stringify(name)}`);
      const ext = decodeSparseExtension(block);
      segments.push(...ext.segments);
      more = ext.extended;
      if (segments.length > MAX_SPARSE_SEGMENTS) throw invalid(`entry ${JSON.stringify(name)} has more than ${MAX_SPARSE_SEGMENTS} sparse segments`);
    }
    return segments;
  }

  /** GNU's PAX sparse formats (0.0, 0.1, 1.0), detected as Go detects them. */
  private async paxSparse(rec: Map<string, Buffer>, sparse0: string[], entry: TarEntry, dataSize: number): Promise<{ segments: SparseSegment[]; dataSize: number } | undefined> {
    const major = rec.get('GNU.sparse.major')?.toString('latin1');
    const minor = rec.get('GNU.sparse.minor')?.toString('latin1');
    const map = rec.get('GNU.sparse.map')?.toString('latin1');
    let version: '0' | '1';
    if (major === '1' && minor === '0') version = '1';
    else if (major === '0' && (minor === '0' || minor === '1')) version = '0';
    else if (major !== undefined || minor !== undefined) throw invalid(`entry ${JSON.stringify(entry.name)} uses unknown GNU sparse version ${major ?? ''}.${minor ?? ''}`);
    else if (map !== undefined || sparse0.length > 0) version = '0';
    else return undefined;
    const size = rec.get('GNU.sparse.size') ?? rec.get('GNU.sparse.realsize');
    if (size !== undefined) entry.size = paxInteger(size, 'GNU.sparse.size');
    if (version === '0') {
      const values = sparse0.length > 0 ? sparse0 : map === undefined || map === '' ? [] : map.split(',');
      if (values.length / 2 > MAX_SPARSE_SEGMENTS) throw invalid(`entry ${JSON.stringify(entry.name)} has more than ${MAX_SPARSE_SEGMENTS} sparse segments`);
      return { segments: parseSparseList(values, `sparse map of ${JSON.stringify(entry.name)}`), dataSize };
    }
    // 1.0: the map is text at the start of the data, in whole blocks. It is parsed only once
    // enough lines arrived, so a long map costs one concatenation, not one per block.
    const blocks: Buffer[] = [];
    let newlines = 0;
    let needed = 1;
    for (;;) {
      const read = blocks.length * BLOCK_SIZE;
      if (read >= dataSize || read >= MAX_META_BYTES) throw invalid(`entry ${JSON.stringify(entry.name)} has a malformed sparse map`);
      const block = await this.block(`the sparse map of ${JSON.stringify(entry.name)}`);
      if (!block) throw invalid(`archive ends inside the sparse map of ${JSON.stringify(entry.name)}`);
      blocks.push(block);
      for (let i = block.indexOf(0x0a); i >= 0; i = block.indexOf(0x0a, i + 1)) newlines++;
      if (newlines < needed) continue;
      const text = Buffer.concat(blocks);
      const segments = parseSparseMap1x0(text);
      if (segments) return { segments, dataSize: dataSize - text.length };
      // Not complete yet: the first line says how many lines to wait for.
      needed = 1 + 2 * Number(text.toString('latin1', 0, text.indexOf(0x0a)));
    }
  }

  /** The data of a metadata entry (PAX, long name), bounded. */
  private async meta(h: RawHeader): Promise<Buffer> {
    if (h.size > MAX_META_BYTES) throw invalid(`extended header of ${h.size} bytes exceeds ${MAX_META_BYTES}`);
    if (!(await this.src.ensure(h.size))) throw invalid('archive ends inside an extended header');
    const data = Buffer.from(this.src.take(h.size));
    await this.skip(padding(h.size));
    return data;
  }

  /** One block; undefined at a clean end of the stream; `inside` names what a partial end cuts. */
  private async block(inside: string | undefined): Promise<Buffer | undefined> {
    if (this.src.available >= BLOCK_SIZE || (await this.src.ensure(BLOCK_SIZE))) return this.src.take(BLOCK_SIZE);
    if (this.src.available === 0 && inside === undefined) return undefined;
    throw invalid(`archive ends inside ${inside ?? 'a header'}`);
  }

  /** Discards `n` bytes; a promise only when they are not all buffered yet. */
  private skip(n: number): Promise<void> | undefined {
    const left = n - this.src.skipSync(n);
    return left > 0 ? this.skipSlow(left) : undefined;
  }

  private async skipSlow(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const piece = await this.src.piece(left);
      if (!piece) throw invalid(this.current ? `archive ends inside entry ${JSON.stringify(this.current.name)}` : 'archive is truncated');
      left -= piece.length;
    }
  }
}

/** A GNU long name: NUL-terminated. */
function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return utf8.decode(end < 0 ? b : b.subarray(0, end));
}
