import { asError } from '../errors';
import type { Logger } from '../log';
import type { ServerDeps } from './deps';

/**
 * A pod's infra (pause) container dying while the daemon runs: as in CRI-O, whose pod status is
 * ready only while its infra container runs, the pod turns NOTREADY so the kubelet kills it and
 * makes a new one. Without this the pod would stay READY with its PID namespace gone (the
 * kernel ends every process of a PID namespace whose init exits), and containers created in it
 * would fail to start.
 *
 * Two ways to notice: conmon's exit file for the pod ID (the exit watcher calls
 * infraExited), and the monitor check (checkInfraMonitors) for a pause whose conmon died first,
 * where nothing would ever write that file.
 */

/** Marks a ready pod NOTREADY because its infra container is gone; a no-op for pods already stopping. */
export async function infraExited(deps: ServerDeps, podSandboxId: string, log: Logger, reason: string): Promise<void> {
  const pod = deps.sandboxes.find(podSandboxId);
  if (!pod?.infra || pod.state !== 'ready') return;
  await deps.sandboxes.update(podSandboxId, (r) => (r.state === 'ready' ? { ...r, state: 'notready' } : r));
  log.warn('pod infra container exited: pod not ready', { podSandboxId, reason });
}

/**
 * Pods whose pause process outlived its conmon: nothing writes their exit file, so the pause
 * PID itself is checked (one /proc read per tick, against its start time).
 */
export class InfraWatch {
  private readonly unmonitored = new Set<string>();

  constructor(
    private readonly deps: ServerDeps,
    private readonly log: Logger,
  ) {}

  /** Checks every ready pod with an infra container once, one after the other. */
  async check(): Promise<void> {
    for (const pod of this.deps.sandboxes.list()) {
      if (!pod.infra || pod.state !== 'ready') {
        this.unmonitored.delete(pod.id);
        continue;
      }
      await this.checkPod(pod.id, pod.runtimeHandler).catch((err: unknown) =>
        this.log.warn('infra container check failed', { podSandboxId: pod.id, err: asError(err).message }),
      );
    }
    for (const id of this.unmonitored) if (!this.deps.sandboxes.find(id)) this.unmonitored.delete(id);
  }

  private async checkPod(podSandboxId: string, handler: string): Promise<void> {
    const runtime = this.deps.runtimeFor(handler);
    if (!this.unmonitored.has(podSandboxId)) {
      const monitor = await runtime.monitorAlive(podSandboxId);
      // Alive: its exit file will tell. Unknown to runc: the exit watcher or restore deals with it.
      if (monitor !== false) return;
    }
    const alive = await runtime.processAlive(podSandboxId);
    if (alive === true) {
      if (!this.unmonitored.has(podSandboxId)) {
        this.unmonitored.add(podSandboxId);
        this.log.warn('pod infra container monitor exited; watching the pause process itself', { podSandboxId });
      }
      return;
    }
    this.unmonitored.delete(podSandboxId);
    await infraExited(this.deps, podSandboxId, this.log, 'the pause process and its monitor are gone');
  }
}
