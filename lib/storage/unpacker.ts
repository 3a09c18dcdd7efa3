import { chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { monotonicMs } from '../monotonic';
import { CriError, InternalError, ResourceExhaustedError, errnoCode } from '../errors';
import type { Logger } from '../log';
import { StreamFailure } from './chunk-source';
import { HoleWriter } from './file-writer';
import { createNodes, whiteoutNode, type NodeSpec } from './node-batch';
import { SafeTree, entryComponents, refuseEntry } from './safe-tree';
import { entryMeta, entryXattrs, type EntryMeta } from './tar-entry';
import type { TarEntry, TarReader } from './tar-reader';
import { OVERLAY_OPAQUE_XATTR, applyXattrs, type XattrSetting } from './xattr';

/**
 * Applies tar entries to a directory (see tar-unpack.ts for the contract). File system calls
 * are synchronous (measured: ~45 µs per small file against ~390 µs with fs.promises on a
 * 2-core node); the caller's loop yields to the event loop between slices. Device nodes,
 * fifos and whiteouts wait for one batched tar process, xattrs for one setfattr process.
 */

/** What was unpacked. */
export interface UnpackResult {
  /** Bytes of regular-file content stored (a sparse file's holes not counted). */
  bytes: number;
  /** Tar entries processed (PAX/GNU metadata records are not counted). */
  entries: number;
  /** Whether the tar had an entry for the layer root (which then set its owner and mode). */
  rootSet: boolean;
}

const WH = '.wh.';
const WH_META = '.wh..wh.';
const WH_OPAQUE = '.wh..wh..opq';
const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Longest stretch of synchronous work before the event loop gets a turn. */
const SLICE_MS = 20;

/** A node waiting for the batch; whiteouts lose to any same-named entry of the layer. */
interface PendingNode {
  spec: NodeSpec;
  whiteout: boolean;
}

/** Applies entries in order, then finish() does the deferred work. */
export class Unpacker {
  private readonly tree: SafeTree;
  private bytes = 0;
  private entries = 0;
  private rootSet = false;
  private lastYield = monotonicMs();
  private readonly dirTimes = new Map<string, number>();
  private readonly opaque = new Set<string>();
  private readonly pending = new Map<string, PendingNode>();
  private readonly xattrs = new Map<string, XattrSetting[]>();

  constructor(
    private readonly root: string,
    private readonly log: Logger,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.tree = new SafeTree(root);
  }

  result(): UnpackResult {
    return { bytes: this.bytes, entries: this.entries, rootSet: this.rootSet };
  }

  /** Applies one entry; file system errors become typed errors naming the entry. */
  async entry(e: TarEntry, reader: TarReader): Promise<void> {
    this.entries++;
    try {
      await this.apply(e, reader);
    } catch (err) {
      if (err instanceof CriError || err instanceof StreamFailure || !errnoCode(err)) throw err;
      const msg = `layer entry ${JSON.stringify(e.name)}: ${err instanceof Error ? err.message : String(err)}`;
      const code = errnoCode(err);
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new ResourceExhaustedError(msg, { cause: err });
      throw new InternalError(msg, { cause: err });
    }
    if (monotonicMs() - this.lastYield > SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.signal?.throwIfAborted();
      this.lastYield = monotonicMs();
    }
  }

  private async apply(e: TarEntry, reader: TarReader): Promise<void> {
    const name = e.name;
    const components = entryComponents(name);
    const meta = entryMeta(e);
    if (components.length === 0) {
      if (e.type !== 'directory') throw refuseEntry(name, 'the layer root can only be a directory');
      this.setMeta(this.root, meta);
      this.rootSet = true;
      this.dirTimes.set('', meta.mtime);
      const rootX = entryXattrs(e, this.log);
      if (rootX.length > 0) this.xattrs.set('', rootX.map((a) => ({ path: '.', ...a })));
      return;
    }
    const base = components[components.length - 1] ?? '';
    if (base.startsWith(WH)) return this.whiteout(name, components, base, meta);
    const rel = components.join('/');
    this.checkPendingParents(components, name);
    this.tree.ensureParents(components, name);
    const abs = this.tree.abs(components);
    this.forgetPending(rel, false);
    switch (e.type) {
      case 'file':
        await this.writeFile(name, components, abs, e, reader, meta);
        break;
      case 'directory':
        if (!this.tryCreate(() => mkdirSync(abs, 0o700)) && this.replaceExisting(name, components, abs, 'directory') === 'absent') mkdirSync(abs, 0o700);
        this.setMeta(abs, meta);
        this.tree.markDir(components);
        this.dirTimes.set(rel, meta.mtime);
        break;
      case 'symlink': {
        const target = e.linkname;
        if (target === '' || target.includes('\0')) throw refuseEntry(name, 'symlink has no valid target');
        if (!this.tryCreate(() => symlinkSync(target, abs))) {
          this.replaceExisting(name, components, abs, 'symlink');
          symlinkSync(target, abs);
        }
        lchownSync(abs, meta.uid, meta.gid);
        lutimesSync(abs, meta.mtime, meta.mtime);
        break;
      }
      case 'link':
        // The inode already has its owner, mode, times and xattrs from the entry that made it.
        await this.hardlink(name, components, abs, e.linkname);
        return;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        this.replaceExisting(name, components, abs, 'node');
        this.pending.set(rel, { spec: { path: rel, type: e.type, devmajor: e.devmajor, devminor: e.devminor, ...meta }, whiteout: false });
        break;
    }
    const x = entryXattrs(e, this.log);
    if (x.length > 0) this.xattrs.set(rel, x.map((a) => ({ path: rel, ...a })));
  }

  /** Runs a create call; false when the path already exists (EEXIST). */
  private tryCreate(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return false;
      throw err;
    }
  }

  private async writeFile(name: string, components: string[], abs: string, e: TarEntry, reader: TarReader, meta: EntryMeta): Promise<void> {
    let fd: number;
    try {
      fd = openSync(abs, CREATE_FILE, 0o600);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      this.replaceExisting(name, components, abs, 'file');
      fd = openSync(abs, CREATE_FILE, 0o600);
    }
    try {
      const w = new HoleWriter(fd);
      await reader.readContent((chunk, position) => {
        w.write(chunk, position);
        this.bytes += chunk.length;
      });
      w.finish(e.size);
      // chown clears setuid/setgid, so the mode goes on after it.
      fchownSync(fd, meta.uid, meta.gid);
      fchmodSync(fd, meta.mode);
      futimesSync(fd, meta.mtime, meta.mtime);
    } finally {
      closeSync(fd);
    }
  }

  /** Removes what an entry replaces; returns 'directory' when an existing directory is kept. */
  private replaceExisting(name: string, components: string[], abs: string, kind: 'file' | 'directory' | 'symlink' | 'link' | 'node'): 'absent' | 'directory' {
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'absent';
      throw err;
    }
    if (!st.isDirectory()) {
      unlinkSync(abs);
      return 'absent';
    }
    if (kind === 'directory') return 'directory';
    // A link where a directory was would redirect every later entry below it.
    if (kind === 'symlink' || kind === 'link') throw refuseEntry(name, `would replace directory ${JSON.stringify(components.join('/'))} with a ${kind === 'link' ? 'hardlink' : 'symlink'}`);
    this.tree.forget(components);
    this.forgetPending(components.join('/'), true);
    rmSync(abs, { recursive: true, force: true });
    return 'absent';
  }

  private async hardlink(name: string, components: string[], abs: string, linkname: string): Promise<void> {
    const target = entryComponents(name, linkname, { allowAbsolute: true, what: 'hardlink target' });
    if (target.length === 0) throw refuseEntry(name, 'hardlink to the layer root');
    const targetRel = target.join('/');
    if (targetRel === components.join('/')) throw refuseEntry(name, 'hardlink to itself');
    const pending = this.pending.get(targetRel);
    if (pending && !pending.whiteout) await this.flushNodes();
    this.tree.checkParents(target, name);
    const targetAbs = this.tree.abs(target);
    let st: Stats;
    try {
      st = lstatSync(targetAbs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw refuseEntry(name, `hardlink target ${JSON.stringify(linkname)} is not in the layer`);
      throw err;
    }
    if (st.isDirectory()) throw refuseEntry(name, `hardlink target ${JSON.stringify(linkname)} is a directory`);
    // link(2) does not follow a final symlink, and the target's parents were checked above.
    if (!this.tryCreate(() => linkSync(targetAbs, abs))) {
      this.replaceExisting(name, components, abs, 'link');
      linkSync(targetAbs, abs);
    }
  }

  private whiteout(name: string, components: string[], base: string, meta: EntryMeta): void {
    const parent = components.slice(0, -1);
    this.checkPendingParents(components, name);
    this.tree.ensureParents(components, name);
    if (base === WH_OPAQUE) {
      this.opaque.add(parent.join('/'));
      return;
    }
    if (base.startsWith(WH_META)) return; // other AUFS metadata (.wh..wh.plnk, …) has no overlay meaning
    const hidden = base.slice(WH.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw refuseEntry(name, 'whiteout of an invalid name');
    const rel = [...parent, hidden].join('/');
    // OCI: a whiteout only hides lower layers; a same-named entry of this layer wins, before or after it.
    if (this.pending.has(rel) || this.exists(path.join(this.root, rel))) return;
    this.pending.set(rel, { spec: whiteoutNode(rel, meta.uid, meta.gid, meta.mtime), whiteout: true });
  }

  /** A pending device node cannot be a parent; a pending whiteout yields to the layer's own directory. */
  private checkPendingParents(components: readonly string[], entryName: string): void {
    if (this.pending.size === 0) return;
    for (let i = 1; i < components.length; i++) {
      const rel = components.slice(0, i).join('/');
      const p = this.pending.get(rel);
      if (!p) continue;
      if (!p.whiteout) throw refuseEntry(entryName, `parent ${JSON.stringify(rel)} is not a directory`);
      this.pending.delete(rel);
    }
  }

  /** Drops pending work for a path being replaced (and, for a removed directory, below it). */
  private forgetPending(rel: string, below: boolean): void {
    this.pending.delete(rel);
    this.xattrs.delete(rel);
    if (!below) return;
    const prefix = rel + '/';
    for (const k of this.pending.keys()) if (k.startsWith(prefix)) this.pending.delete(k);
    for (const k of this.xattrs.keys()) if (k.startsWith(prefix)) this.xattrs.delete(k);
    for (const k of this.opaque) if (k.startsWith(prefix)) this.opaque.delete(k);
  }

  private async flushNodes(): Promise<void> {
    const nodes = [...this.pending.values()].map((p) => p.spec);
    this.pending.clear();
    await createNodes(this.root, nodes, this.signal);
  }

  /** Work that must follow all entries: nodes and whiteouts, xattrs, then directory mtimes. */
  async finish(): Promise<void> {
    await this.flushNodes();
    this.signal?.throwIfAborted();
    const opaque = [...this.opaque].filter((d) => this.isDir(d));
    if (opaque.length > 0) {
      const res = await applyXattrs(this.root, opaque.map((d) => ({ path: d === '' ? '.' : d, name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') })), this.signal);
      if (!res.ok) throw new InternalError(`marking opaque directories in ${this.root}: ${res.error}`);
    }
    const xattrs = [...this.xattrs.values()].flat();
    if (xattrs.length > 0) {
      this.log.debug('setting layer xattrs', { count: xattrs.length });
      const res = await applyXattrs(this.root, xattrs, this.signal);
      // As Docker does: a filesystem that refuses some xattr does not fail the layer.
      if (!res.ok) this.log.warn('layer xattrs not all set', { err: res.error });
    }
    this.signal?.throwIfAborted();
    for (const [rel, mtime] of this.dirTimes) {
      if (this.isDir(rel)) lutimesSync(path.join(this.root, rel), mtime, mtime);
    }
  }

  private exists(abs: string): boolean {
    try {
      lstatSync(abs);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  private isDir(rel: string): boolean {
    try {
      return lstatSync(path.join(this.root, rel)).isDirectory();
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
      throw err;
    }
  }

  /** Owner then mode (chown clears setuid/setgid). abs was just created or lstat-checked: never a symlink. */
  private setMeta(abs: string, meta: EntryMeta): void {
    lchownSync(abs, meta.uid, meta.gid);
    chmodSync(abs, meta.mode);
  }
}
