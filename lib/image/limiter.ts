/**
 * A concurrency limit for promises (parallel layer downloads): at most `n` run at once, the
 * rest start in call order as earlier ones settle.
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
