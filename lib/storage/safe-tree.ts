import { chmodSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, errnoCode } from '../errors';

/**
 * Path safety for unpacking untrusted layers. Entry names are cleaned lexically, and every
 * parent directory is checked with lstat so nothing is ever written through a symlink: an
 * archive can create `a -> /etc` and then `a/passwd`, and only a no-follow walk stops that.
 * The walk is synchronous: it runs once per new directory, and for trees of thousands of
 * directories a thread-pool round trip per lstat would cost more than the lstat itself.
 */

/** The error for a layer entry we refuse; the message names the entry. */
export function refuseEntry(entryName: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`layer entry ${JSON.stringify(entryName)}: ${why}`);
}

/** Options for entryComponents. */
export interface ComponentsOptions {
  /** Treat a leading "/" as the layer root (hardlink targets, as Docker does) instead of refusing. */
  allowAbsolute?: boolean;
  /** What the name is, for messages ("hardlink target"). */
  what?: string;
}

/**
 * Splits an entry name into clean components (`./a//b/` → [a, b]); [] is the layer root.
 * Refuses NUL bytes, absolute names and `..` that climbs above the root.
 */
export function entryComponents(entryName: string, name: string = entryName, options: ComponentsOptions = {}): string[] {
  const what = options.what ?? 'path';
  if (name.includes('\0')) throw refuseEntry(entryName, `${what} contains a NUL byte`);
  if (name.startsWith('/') && !options.allowAbsolute) throw refuseEntry(entryName, `${what} ${JSON.stringify(name)} is absolute`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw refuseEntry(entryName, `${what} ${JSON.stringify(name)} escapes the layer`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/**
 * A directory being unpacked into. Remembers which relative directories were verified to be
 * real directories so deep trees cost one lstat per directory, not per entry.
 */
export class SafeTree {
  private readonly dirs = new Set<string>(['']);

  constructor(readonly root: string) {}

  /** Absolute path of the components under the root. */
  abs(components: readonly string[]): string {
    return path.join(this.root, ...components);
  }

  /** Makes sure every parent of `components` is a real directory, creating missing ones (0755, root). */
  ensureParents(components: readonly string[], entryName: string): void {
    this.walkParents(components, entryName, true);
  }

  /** Like ensureParents but a missing parent is an error: for hardlink targets and deferred work. */
  checkParents(components: readonly string[], entryName: string): void {
    this.walkParents(components, entryName, false);
  }

  /** Records that `components` is now a real directory. */
  markDir(components: readonly string[]): void {
    this.dirs.add(components.join('/'));
  }

  /** Forgets a path (and everything below it) that is being removed or replaced. */
  forget(components: readonly string[]): void {
    const rel = components.join('/');
    this.dirs.delete(rel);
    const prefix = rel + '/';
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
  }

  private walkParents(components: readonly string[], entryName: string, create: boolean): void {
    for (let i = 1; i < components.length; i++) {
      const parent = components.slice(0, i);
      const rel = parent.join('/');
      if (this.dirs.has(rel)) continue;
      const abs = this.abs(parent);
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
        if (!create) throw refuseEntry(entryName, `parent ${JSON.stringify(rel)} does not exist`);
        mkdirSync(abs);
        // mkdir's mode is filtered by the umask; tar implies 0755 for directories it did not list.
        chmodSync(abs, 0o755);
        this.dirs.add(rel);
        continue;
      }
      if (st.isSymbolicLink()) throw refuseEntry(entryName, `parent ${JSON.stringify(rel)} is a symlink`);
      if (!st.isDirectory()) throw refuseEntry(entryName, `parent ${JSON.stringify(rel)} is not a directory`);
      this.dirs.add(rel);
    }
  }
}
