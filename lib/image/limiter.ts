/**
 * Concurrency limits for promises (parallel layer downloads): at most `n` run at once, the
 * rest start in call order as earlier ones settle (or free their slot).
 */

/** Runs `fn` when a slot is free. */
export type Limited = <T>(fn: () => Promise<T>) => Promise<T>;

/** Creates a limiter with `n` slots. */
export function createLimiter(n: number): Limited {
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    active--;
    waiting.shift()?.();
  };
  return <T>(fn: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const run = (): void => {
        active++;
        Promise.resolve().then(fn).then(resolve, reject).finally(release);
      };
      if (active < n) run();
      else waiting.push(run);
    });
}

/**
 * `n` slots handed out in call order and given back explicitly, so work can free its slot
 * before it ends (a layer whose bytes are all read frees its download slot while it waits
 * for its parent to be committed).
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(n: number) {
    this.free = n;
  }

  /** Resolves with this slot's release function (safe to call twice); rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        let held = true;
        resolve(() => {
          if (!held) return;
          held = false;
          const next = this.waiting.shift();
          if (next) next();
          else this.free++;
        });
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.free > 0) {
        this.free--;
        grant();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }
}
