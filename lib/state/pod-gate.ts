import { FailedPreconditionError } from '../errors';

/**
 * Orders container work in a pod against the pod's stop (in memory; the persisted NOTREADY state
 * covers restarts). Once StopPodSandbox has begun, CreateContainer and StartContainer in the pod
 * are refused; a create or start already running is waited for, so the stop also stops what it
 * made. Without this, a container created while the pod's network was being torn down kept
 * running in a pod reported stopped.
 */
export class PodGate {
  private readonly stopping = new Set<string>();
  private readonly running = new Map<string, Set<Promise<unknown>>>();

  /** Runs `work` as container work of the pod; FailedPreconditionError (naming `what`) once the pod's stop has begun. */
  async run<T>(podSandboxId: string, what: string, work: () => Promise<T>): Promise<T> {
    if (this.stopping.has(podSandboxId)) throw new FailedPreconditionError(`${what}: pod sandbox ${podSandboxId} is being stopped`);
    const p = work();
    let set = this.running.get(podSandboxId);
    if (!set) this.running.set(podSandboxId, (set = new Set()));
    const tracked = set;
    tracked.add(p);
    try {
      return await p;
    } finally {
      tracked.delete(p);
      if (tracked.size === 0 && this.running.get(podSandboxId) === tracked) this.running.delete(podSandboxId);
    }
  }

  /** Refuses new container work in the pod from now on and waits for what already runs (its failures are its callers'). */
  async beginStop(podSandboxId: string): Promise<void> {
    this.stopping.add(podSandboxId);
    const set = this.running.get(podSandboxId);
    if (set) await Promise.allSettled([...set]);
  }

  /** Whether the pod's stop has begun in this daemon. */
  isStopping(podSandboxId: string): boolean {
    return this.stopping.has(podSandboxId);
  }

  /** Forgets a removed pod. */
  forget(podSandboxId: string): void {
    this.stopping.delete(podSandboxId);
  }
}
