import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { lock as osLock } from 'os-lock';
import { InternalError, errnoCode } from '../errors';

/**
 * containers/storage's lock files (pkg/lockfile), so crio-ts and podman/skopeo/buildah exclude
 * each other on one store: a whole-file fcntl record lock (F_RDLCK shared, F_WRLCK exclusive)
 * taken on an fd opened for each hold and released by closing it, plus an in-process
 * reader/writer queue (fcntl locks belong to the process, so they cannot exclude our own
 * concurrent operations). The file's first 64 bytes are the last writer's token: a writer
 * rewrites it (touch) after changing what the lock guards, and a holder that finds a token other
 * than the one it last saw (modified) knows another process wrote and reloads.
 *
 * Node has no fcntl: os-lock (a small N-API addon) sets the lock. Its blocking form would park
 * a libuv pool thread for as long as podman holds the lock (and the pool also runs gunzip and
 * fs calls), so the lock is tried without waiting and retried with a short backoff.
 * Nothing else in this process may open and close a lock file while it is held: closing any fd
 * of the file drops the process's locks on it (POSIX). getLockFile hands out one instance per path.
 */

/** Token length: containers/storage's lastWriterIDSize. */
export const TOKEN_SIZE = 64;
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 20;

type Mode = 'shared' | 'exclusive';

interface Waiter {
  mode: Mode;
  grant: () => void;
  fail: (err: unknown) => void;
}

let tokenCounter = 0n;

/** A token as containers/storage makes one: nanosecond time, counter, pid (little-endian), random rest. */
export function newToken(): Buffer {
  const b = Buffer.alloc(TOKEN_SIZE);
  b.writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n), 0);
  tokenCounter++;
  b.writeBigUInt64LE(tokenCounter, 8);
  b.writeUInt32LE(process.pid >>> 0, 16);
  randomBytes(TOKEN_SIZE - 20).copy(b, 20);
  return b;
}

/** One lock file of a store (layers.lock, images.lock, containers.lock, mountpoints.lock, ...). */
export class LockFile {
  private holders = 0;
  private mode: Mode | undefined;
  private acquiring = false;
  private fd: number | undefined;
  private readonly queue: Waiter[] = [];
  /** The token as of our last touch() or modified(); a fresh instance has none, so the first check reports a change. */
  private lastToken: Buffer = newToken();

  constructor(
    readonly path: string,
    private readonly readOnly = false,
  ) {}

  /** Exclusive (write) lock; also excludes this process's other holders. */
  lock(): Promise<void> {
    if (this.readOnly) return Promise.reject(new InternalError(`lock file ${this.path} is read-only: no write lock`));
    return this.enqueue('exclusive');
  }

  /** Shared (read) lock. */
  rlock(): Promise<void> {
    return this.enqueue('shared');
  }

  /** Releases one hold; the file lock goes with the last one. */
  unlock(): void {
    if (this.holders === 0) throw new InternalError(`lock file ${this.path} unlocked while not held`);
    this.holders--;
    if (this.holders === 0) {
      this.mode = undefined;
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) closeSync(fd);
    }
    this.pump();
  }

  /** Runs `fn` under the exclusive lock. */
  async withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /** Runs `fn` under a shared lock. */
  async withRLock<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.rlock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }

  /** Whether this process holds the lock exclusively. */
  get lockedExclusive(): boolean {
    return this.holders > 0 && this.mode === 'exclusive';
  }

  /** Records a new last-writer token (call after changing what the lock guards; needs the exclusive lock). */
  touch(): void {
    if (!this.lockedExclusive || this.fd === undefined) throw new InternalError(`lock file ${this.path}: touch without the write lock`);
    const token = newToken();
    const n = writeSync(this.fd, token, 0, TOKEN_SIZE, 0);
    if (n !== TOKEN_SIZE) throw new InternalError(`lock file ${this.path}: short token write`);
    this.lastToken = token;
  }

  /** Whether another writer touched the file since our last touch() or modified() (needs a lock). */
  modified(): boolean {
    if (this.holders === 0 || this.fd === undefined) throw new InternalError(`lock file ${this.path}: modified() without holding the lock`);
    const current = Buffer.alloc(TOKEN_SIZE);
    const n = readSync(this.fd, current, 0, TOKEN_SIZE, 0);
    if (n !== TOKEN_SIZE) return true;
    if (current.equals(this.lastToken)) return false;
    this.lastToken = current;
    return true;
  }

  private enqueue(mode: Mode): Promise<void> {
    return new Promise<void>((grant, fail) => {
      this.queue.push({ mode, grant, fail });
      this.pump();
    });
  }

  /** Grants waiters in order: readers join readers unless a writer waits ahead of them. */
  private pump(): void {
    if (this.acquiring) return;
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      if (this.holders === 0) {
        this.acquiring = true;
        this.acquire(head.mode).then(
          () => {
            this.acquiring = false;
            this.mode = head.mode;
            this.grantHead();
            if (head.mode === 'shared') while (this.queue[0]?.mode === 'shared') this.grantHead();
            this.pump();
          },
          (err: unknown) => {
            this.acquiring = false;
            this.queue.shift();
            head.fail(err);
            this.pump();
          },
        );
        return;
      }
      if (this.mode === 'shared' && head.mode === 'shared') {
        this.grantHead();
        continue;
      }
      return;
    }
  }

  private grantHead(): void {
    const w = this.queue.shift();
    if (!w) return;
    this.holders++;
    w.grant();
  }

  /** Opens the file and takes the fcntl lock, retrying while another process holds a conflicting one. */
  private async acquire(mode: Mode): Promise<void> {
    // libuv opens every fd close-on-exec, so a runc or conmon we start never inherits the lock.
    const flags = this.readOnly ? constants.O_RDONLY : constants.O_RDWR | constants.O_CREAT;
    const fd = openSync(this.path, flags, 0o644);
    try {
      for (let wait = RETRY_FIRST_MS; ; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
        try {
          await osLock(fd, { exclusive: mode === 'exclusive', immediate: true });
          break;
        } catch (err) {
          const code = errnoCode(err);
          if (code !== 'EAGAIN' && code !== 'EACCES' && code !== 'EBUSY' && code !== 'EINTR') throw err;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    } catch (err) {
      closeSync(fd);
      throw new InternalError(`locking ${this.path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    this.fd = fd;
  }
}

const registry = new Map<string, LockFile>();

/**
 * The process-wide LockFile for `file` (one per path: see the note on closing fds above). A path
 * first opened read-only (an additional image store) stays read-only.
 */
export function getLockFile(file: string, readOnly = false): LockFile {
  let l = registry.get(file);
  if (!l) {
    l = new LockFile(file, readOnly);
    registry.set(file, l);
  }
  return l;
}
