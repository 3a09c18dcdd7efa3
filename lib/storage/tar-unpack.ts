import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { extract as tarExtract } from 'tar-stream';
import { CriError, InternalError, InvalidArgumentError, ResourceExhaustedError, errnoCode } from '../errors';
import { pathExists } from '../fsutil';
import { nullLogger, type Logger } from '../log';
import { runProgram, stderrTail } from '../process';
import { SafeTree, entryComponents, refuseEntry } from './safe-tree';
import { entryMeta, entryXattrs, type EntryHeaders, type EntryMeta } from './tar-entry';
import { OVERLAY_OPAQUE_XATTR, applyXattrs, type XattrSetting } from './xattr';

/**
 * Streams an OCI/Docker layer tar into a directory, converting AUFS whiteouts to overlay's
 * form as containers/storage does (`.wh.x` → char 0:0 `x`, `.wh..wh..opq` → opaque xattr).
 * Files are written as they stream; only device nodes and whiteouts spawn `mknod`, and only a
 * layer with xattrs spawns `setfattr` (once).
 */

/** Options for unpackLayer. */
export interface UnpackOptions {
  log?: Logger;
  /** Aborting stops the unpack; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What was unpacked. */
export interface UnpackResult {
  /** Bytes of regular-file content written. */
  bytes: number;
  /** Tar entries processed (PAX/GNU long-name records are not counted). */
  entries: number;
}

const WH = '.wh.';
const WH_META = '.wh..wh.';
const WH_OPAQUE = '.wh..wh..opq';
const MKNOD_PARALLEL = 4;
const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

interface PendingWhiteout {
  components: string[];
  entryName: string;
  meta: EntryMeta;
}

/**
 * Unpacks `tar` into the existing directory `dir`. No entry lands outside `dir` and no symlink
 * from the archive is ever followed. On failure the stream is destroyed and the partial
 * content is left for the caller to delete; an error the stream itself emitted is rethrown as is.
 */
export async function unpackLayer(tar: Readable, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const { signal } = options;
  const root = path.resolve(dir);
  const extract = tarExtract();
  // Listeners go on before the first await: a stream failing meanwhile must not go unnoticed.
  let sourceError: unknown = tar.errored ?? undefined;
  const fail = (err: unknown): void => {
    if (sourceError === undefined) sourceError = err;
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  // A stream destroyed without an error never ends; without this the unpack would hang.
  const closedEarly = (): InternalError => new InternalError('layer stream closed before its end');
  const onClose = (): void => {
    if (!tar.readableEnded) fail(closedEarly());
  };
  const onAbort = (): void => fail(signal?.reason);
  // The parser's own complaint (bad header, truncated archive) beats the "destroyed" errors it causes.
  let parserError: unknown;
  extract.on('error', (err: unknown) => {
    if (parserError === undefined) parserError = err;
  });
  tar.on('error', fail);
  tar.on('close', onClose);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (sourceError !== undefined) throw sourceError;
    if (tar.destroyed && !tar.readableEnded) throw closedEarly();
    signal?.throwIfAborted();
    const st = await fs.lstat(root);
    if (!st.isDirectory()) throw new InvalidArgumentError(`unpack target ${root} is not a directory`);
    const unpacker = new Unpacker(root, options.log ?? nullLogger());
    // Re-check after the await: an extract destroyed before its iterator exists would hang it.
    if (sourceError !== undefined) throw sourceError;
    tar.pipe(extract);
    for await (const entry of extract) await unpacker.entry(entry.header, entry);
    await unpacker.finish(signal);
    return unpacker.result();
  } catch (err) {
    tar.unpipe(extract);
    tar.destroy();
    extract.destroy();
    if (sourceError !== undefined) throw sourceError;
    if (parserError !== undefined) {
      throw new InvalidArgumentError(`invalid layer tar: ${parserError instanceof Error ? parserError.message : String(parserError)}`, { cause: parserError });
    }
    if (err instanceof CriError) throw err;
    throw new InternalError(`unpacking layer into ${root}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    tar.off('close', onClose);
    signal?.removeEventListener('abort', onAbort);
    // Keep swallowing errors on a stream we are done with so a late one cannot crash the process.
    tar.off('error', fail);
    tar.on('error', () => undefined);
  }
}

class Unpacker {
  private readonly tree: SafeTree;
  private bytes = 0;
  private entries = 0;
  private readonly dirTimes: { components: string[]; mtime: number }[] = [];
  private readonly whiteouts: PendingWhiteout[] = [];
  private readonly opaque: XattrSetting[] = [];
  private readonly xattrs: XattrSetting[] = [];

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {
    this.tree = new SafeTree(root);
  }

  result(): UnpackResult {
    return { bytes: this.bytes, entries: this.entries };
  }

  /** Applies one entry; always consumes its data so the parser can move on. */
  async entry(h: EntryHeaders, data: AsyncIterable<unknown>): Promise<void> {
    this.entries++;
    try {
      await this.apply(h, data);
    } catch (err) {
      if (err instanceof CriError) throw err;
      const msg = `layer entry ${JSON.stringify(h.name)}: ${err instanceof Error ? err.message : String(err)}`;
      const code = errnoCode(err);
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new ResourceExhaustedError(msg, { cause: err });
      throw new InternalError(msg, { cause: err });
    }
    for await (const chunk of data) void chunk; // whatever apply did not read (non-file payloads)
  }

  private async apply(h: EntryHeaders, data: AsyncIterable<unknown>): Promise<void> {
    const name = h.name;
    const components = entryComponents(name);
    const meta = entryMeta(h);
    if (components.length === 0) {
      if (h.type !== 'directory') throw refuseEntry(name, 'the layer root can only be a directory');
      await this.setMeta(this.root, meta);
      this.dirTimes.push({ components, mtime: meta.mtime });
      return;
    }
    const base = components[components.length - 1] ?? '';
    if (base.startsWith(WH)) return this.whiteout(name, components, base, meta);
    await this.tree.ensureParents(components, name);
    const abs = this.tree.abs(components);
    switch (h.type) {
      case 'file':
      case 'contiguous-file':
        await this.replaceExisting(name, components, abs, 'file');
        await this.writeFile(abs, data, meta);
        break;
      case 'directory':
        if ((await this.replaceExisting(name, components, abs, 'directory')) === 'absent') await fs.mkdir(abs, 0o700);
        await this.setMeta(abs, meta);
        this.tree.markDir(components);
        this.dirTimes.push({ components, mtime: meta.mtime });
        break;
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target === '' || target.includes('\0')) throw refuseEntry(name, 'symlink has no valid target');
        await this.replaceExisting(name, components, abs, 'symlink');
        await fs.symlink(target, abs);
        await fs.lchown(abs, meta.uid, meta.gid);
        await fs.lutimes(abs, meta.mtime, meta.mtime);
        break;
      }
      case 'link':
        // The inode already has its owner, mode, times and xattrs from the entry that made it.
        await this.hardlink(name, components, abs, h.linkname ?? '');
        return;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await this.replaceExisting(name, components, abs, 'node');
        await mknod(name, abs, h.type === 'fifo' ? ['p'] : [h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)]);
        await this.setMeta(abs, meta);
        await fs.lutimes(abs, meta.mtime, meta.mtime);
        break;
      default:
        throw refuseEntry(name, `unsupported entry type ${String(h.type)}`);
    }
    for (const x of entryXattrs(h, this.log)) this.xattrs.push({ path: components.join('/'), ...x });
  }

  /** Removes what an entry replaces; returns 'directory' when an existing directory is kept. */
  private async replaceExisting(name: string, components: string[], abs: string, kind: 'file' | 'directory' | 'symlink' | 'link' | 'node'): Promise<'absent' | 'directory'> {
    let st: Stats;
    try {
      st = await fs.lstat(abs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'absent';
      throw err;
    }
    if (!st.isDirectory()) {
      await fs.unlink(abs);
      return 'absent';
    }
    if (kind === 'directory') return 'directory';
    // A link where a directory was would redirect every later entry below it.
    if (kind === 'symlink' || kind === 'link') throw refuseEntry(name, `would replace directory ${JSON.stringify(components.join('/'))} with a ${kind === 'link' ? 'hardlink' : 'symlink'}`);
    this.tree.forget(components);
    await fs.rm(abs, { recursive: true, force: true });
    return 'absent';
  }

  private async writeFile(abs: string, data: AsyncIterable<unknown>, meta: EntryMeta): Promise<void> {
    const fh = await fs.open(abs, CREATE_FILE, 0o600);
    try {
      for await (const chunk of data) {
        if (!(chunk instanceof Uint8Array)) throw new InternalError('tar parser yielded a non-binary chunk');
        this.bytes += await writeAll(fh, chunk);
      }
      // chown clears setuid/setgid, so the mode goes on after it.
      await fh.chown(meta.uid, meta.gid);
      await fh.chmod(meta.mode);
      await fh.utimes(meta.mtime, meta.mtime);
    } finally {
      await fh.close();
    }
  }

  private async hardlink(name: string, components: string[], abs: string, linkname: string): Promise<void> {
    const target = entryComponents(name, linkname, { allowAbsolute: true, what: 'hardlink target' });
    if (target.length === 0) throw refuseEntry(name, 'hardlink to the layer root');
    if (target.join('/') === components.join('/')) throw refuseEntry(name, 'hardlink to itself');
    await this.tree.checkParents(target, name);
    const targetAbs = this.tree.abs(target);
    let st: Stats;
    try {
      st = await fs.lstat(targetAbs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw refuseEntry(name, `hardlink target ${JSON.stringify(linkname)} is not in the layer`);
      throw err;
    }
    if (st.isDirectory()) throw refuseEntry(name, `hardlink target ${JSON.stringify(linkname)} is a directory`);
    await this.replaceExisting(name, components, abs, 'link');
    // link(2) does not follow a final symlink, and the target's parents were checked above.
    await fs.link(targetAbs, abs);
  }

  private async whiteout(name: string, components: string[], base: string, meta: EntryMeta): Promise<void> {
    await this.tree.ensureParents(components, name);
    const parent = components.slice(0, -1);
    if (base === WH_OPAQUE) {
      this.opaque.push({ path: parent.length === 0 ? '.' : parent.join('/'), name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') });
      return;
    }
    if (base.startsWith(WH_META)) return; // other AUFS metadata (.wh..wh.plnk, …) has no overlay meaning
    const hidden = base.slice(WH.length);
    if (hidden === '.' || hidden === '..') throw refuseEntry(name, 'whiteout of an invalid name');
    this.whiteouts.push({ components: [...parent, hidden], entryName: name, meta });
  }

  /** Work that must follow all entries: whiteouts, xattrs, then directory mtimes. */
  async finish(signal: AbortSignal | undefined): Promise<void> {
    await runLimited(this.whiteouts, MKNOD_PARALLEL, async (w) => {
      signal?.throwIfAborted();
      await this.tree.checkParents(w.components, w.entryName);
      const abs = this.tree.abs(w.components);
      // OCI: a whiteout only hides lower layers; a same-named entry of this layer wins.
      if (await pathExists(abs)) return;
      await mknod(w.entryName, abs, ['c', '0', '0']);
      await fs.lchown(abs, w.meta.uid, w.meta.gid);
    });
    signal?.throwIfAborted();
    if (this.opaque.length > 0) {
      const res = await applyXattrs(this.root, this.opaque, signal);
      if (!res.ok) throw new InternalError(`marking opaque directories in ${this.root}: ${res.error}`);
    }
    if (this.xattrs.length > 0) {
      this.log.debug('setting layer xattrs', { count: this.xattrs.length });
      const res = await applyXattrs(this.root, this.xattrs, signal);
      // As Docker does: a filesystem that refuses some xattr does not fail the layer.
      if (!res.ok) this.log.warn('layer xattrs not all set', { err: res.error });
    }
    signal?.throwIfAborted();
    for (const d of this.dirTimes.reverse()) {
      const abs = this.tree.abs(d.components);
      const st = await fs.lstat(abs).catch(() => undefined);
      if (st?.isDirectory()) await fs.lutimes(abs, d.mtime, d.mtime);
    }
  }

  /** Owner then mode (chown clears setuid/setgid). abs was just created or lstat-checked: never a symlink. */
  private async setMeta(abs: string, meta: EntryMeta): Promise<void> {
    await fs.lchown(abs, meta.uid, meta.gid);
    await fs.chmod(abs, meta.mode);
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<number> {
  let off = 0;
  while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
  return buf.length;
}

async function mknod(entryName: string, abs: string, args: string[]): Promise<void> {
  const res = await runProgram('mknod', [abs, ...args], { timeoutMs: 60_000 });
  if (res.exitCode !== 0) throw new InternalError(`layer entry ${JSON.stringify(entryName)}: mknod failed: ${stderrTail(res)}`);
}

async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
