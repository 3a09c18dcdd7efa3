import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import { removeStaleTempFiles, writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import { listMountsUnder, unmount } from './mount';

/**
 * Persistent mount reference counts, one small file per container (containers/storage keeps
 * them in `<runroot>/overlay-layers/mountpoints.json`). They live on the runroot tmpfs so a
 * reboot resets them, and are written without fsync: after a crash the counts are reconciled
 * with the real mount table anyway, so they only need to survive a daemon restart.
 */
export class MountCounts {
  private readonly counts = new Map<string, number>();

  constructor(private readonly dir: string) {}

  /** Reads every count; unreadable files count as zero. */
  async load(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await removeStaleTempFiles(this.dir);
    this.counts.clear();
    for (const name of await fs.readdir(this.dir)) {
      if (name.startsWith('.')) continue;
      const text = await fs.readFile(path.join(this.dir, name), 'utf8').catch(() => '');
      const n = Number(text.trim());
      if (Number.isSafeInteger(n) && n > 0) this.counts.set(name, n);
      else await fs.rm(path.join(this.dir, name), { force: true });
    }
  }

  /** The container's count (0 when none is recorded). */
  get(id: string): number {
    return this.counts.get(id) ?? 0;
  }

  /** IDs with a count above zero. */
  ids(): string[] {
    return [...this.counts.keys()];
  }

  /** Persists a new count; 0 removes the file. */
  async set(id: string, n: number): Promise<void> {
    const file = path.join(this.dir, id);
    if (n <= 0) {
      try {
        await fs.unlink(file);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      this.counts.delete(id);
      return;
    }
    await writeFileAtomic(file, `${n}\n`, 0o600, false);
    this.counts.set(id, n);
  }

  /**
   * Brings counts and the mount table together after a start: below `root` only the `merged`
   * mount of a recorded container with a count may stay (a running container uses it); every
   * other mount is stale and goes, and a count whose mount is gone drops to zero.
   */
  async reconcile(root: string, isRecorded: (id: string) => boolean, log: Logger): Promise<void> {
    const canonicalRoot = await fs.realpath(root);
    const mounted = new Set<string>();
    for (const m of await listMountsUnder(root)) {
      const id = path.basename(path.dirname(m));
      if (m === path.join(canonicalRoot, id, 'merged') && isRecorded(id) && this.get(id) > 0 && !mounted.has(id)) {
        mounted.add(id);
        continue;
      }
      log.info('removing stale mount', { mountpoint: m });
      await unmount(m, { detach: true });
    }
    for (const id of this.ids()) {
      if (mounted.has(id)) continue;
      log.info('resetting mount count of an unmounted container layer', { containerId: id, count: this.get(id) });
      await this.set(id, 0);
    }
  }
}
