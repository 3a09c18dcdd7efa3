import type { Logger } from './log';

/**
 * A reverse-order undo stack for multi-step operations (RunPodSandbox, CreateContainer): each
 * step that creates something registers how to undo it; on failure `run` undoes them newest
 * first so nothing is left half-created. Undo steps are best effort: a failing step is logged
 * and the rest still run.
 */
export class CleanupStack {
  private readonly steps: { description: string; fn: () => Promise<void> }[] = [];

  /** Registers an undo step; it runs before every step registered earlier. */
  add(description: string, fn: () => Promise<void>): void {
    this.steps.push({ description, fn });
  }

  /** Forget every step: the operation succeeded. */
  clear(): void {
    this.steps.length = 0;
  }

  /** Runs every registered step, newest first. */
  async run(log: Logger): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      try {
        await step.fn();
      } catch (err) {
        log.warn('cleanup step failed', { step: step.description, err: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}

/**
 * Waits for steps that run at once, then throws the first failure: a failing step never leaves
 * the others running unobserved (a retry would find them half done).
 */
export async function allDone(steps: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** allDone with the steps' values (Promise.all's typing): every step has settled when it returns or throws. */
export async function allValues<T extends readonly unknown[] | []>(steps: T): Promise<{ -readonly [P in keyof T]: Awaited<T[P]> }> {
  await allDone(steps.map((s) => Promise.resolve(s)));
  return Promise.all(steps);
}
