import type { Logger } from '../log';

/**
 * The container stop loop (CRI-O `StopLoopForContainer`): stop signal, wait up to the timeout, then
 * SIGKILL again and again with exponential backoff until the container is gone. A later stop request
 * with a shorter timeout shortens the wait of the one already running.
 */

/** The operations the loop needs; injected so the loop is testable without runc. */
export interface StopDriver {
  /** Sends the stop signal to the init process. */
  sendStopSignal(): Promise<void>;
  /** Sends SIGKILL to every process of the container. */
  kill(): Promise<void>;
  /** True once the container has exited and its exit has been recorded. */
  isGone(): Promise<boolean>;
}

/** Tunables (CRI-O's values, except a shorter cap so a stuck kill is retried often). */
export interface StopLoopTiming {
  pollMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/** Defaults: poll every 100 ms during the grace period; SIGKILL backoff 20 ms doubling up to 2 s. */
export const DEFAULT_STOP_TIMING: StopLoopTiming = { pollMs: 100, initialBackoffMs: 20, maxBackoffMs: 2_000 };

/** One in-flight stop of one container. */
export class StopOperation {
  private deadline: number;
  /** True once the grace period is over and SIGKILL is being sent (CRI-O refuses new execs then). */
  killing = false;
  private wake: (() => void) | undefined;
  /** Set by poke() when no sleep was running: the next sleep returns at once. */
  private poked = false;
  /** Settles when the container is gone. */
  readonly done: Promise<void>;

  constructor(
    private readonly driver: StopDriver,
    timeoutMs: number,
    private readonly log: Logger,
    private readonly timing: StopLoopTiming = DEFAULT_STOP_TIMING,
  ) {
    this.deadline = Date.now() + Math.max(0, timeoutMs);
    this.done = this.run();
  }

  /** Moves the deadline earlier if `timeoutMs` from now is sooner (never later). */
  shorten(timeoutMs: number): void {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    if (deadline < this.deadline) {
      this.deadline = deadline;
      this.wake?.();
    }
  }

  /**
   * Something the container's end shows (conmon's exit file) appeared: the loop checks isGone()
   * now instead of after its poll interval or backoff. Harmless when nothing changed.
   */
  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.poked = false;
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async attempt(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // Keep going: the next isGone() decides; a failing signal must not leave the container running.
      this.log.warn('stop signal failed', { step: what, err: err instanceof Error ? err.message : String(err) });
    }
  }

  private async run(): Promise<void> {
    if (await this.driver.isGone()) return;
    if (Date.now() < this.deadline) {
      await this.attempt('stop signal', () => this.driver.sendStopSignal());
      while (Date.now() < this.deadline) {
        if (await this.driver.isGone()) return;
        await this.sleep(Math.min(this.timing.pollMs, Math.max(0, this.deadline - Date.now())));
      }
    }
    this.killing = true;
    let backoff = this.timing.initialBackoffMs;
    let attempts = 0;
    for (;;) {
      if (await this.driver.isGone()) return;
      await this.attempt('kill', () => this.driver.kill());
      if (++attempts % 50 === 0) this.log.warn('container still running after repeated SIGKILL', { attempts });
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, this.timing.maxBackoffMs);
    }
  }
}
