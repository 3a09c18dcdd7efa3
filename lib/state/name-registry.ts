import { AlreadyExistsError, DeadlineExceededError } from '../errors';
import { quote } from '../quote';

/**
 * Reserves unique names for pods and containers (CRI-O's registrar): the kubelet identifies a
 * pod by name+namespace+uid+attempt, and a second create with the same name must fail clearly
 * rather than produce two objects.
 *
 * A name may carry the fingerprint of the request that took it (see requestFingerprint). That
 * is what makes creates survive client timeouts, like CRI-O's resourcestore: the kubelet gives up
 * after its deadline while the create goes on, then retries the identical request, which must get
 * the same ID rather than a "name is reserved" error forever.
 */

interface Holder {
  id: string;
  fingerprint?: string;
  /** Settles when the create that took the name has finished (rejects if it failed). */
  pending?: Promise<void>;
}

/** What claim() needs to create an object under a name. */
export interface ClaimOptions {
  name: string;
  /** requestFingerprint of the request; identical retries have identical fingerprints. */
  fingerprint: string;
  /** The caller's abort signal (client cancel or deadline). */
  signal: AbortSignal;
  /** A fresh object ID. */
  newId: () => string;
  /** The RPC name for messages ("CreateContainer"). */
  rpc: string;
}

/** Races a promise against an abort signal without cancelling the promise. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/** Unique names of one kind of object, each held by one ID. */
export class NameRegistry {
  private readonly holders = new Map<string, Holder>();

  constructor(private readonly kind: string) {}

  /** Reserves `name` for `id` (with the fingerprint of the request that made it, if known); AlreadyExistsError names the current owner. */
  reserve(name: string, id: string, fingerprint?: string): void {
    const holder = this.holders.get(name);
    if (holder !== undefined && holder.id !== id) {
      throw new AlreadyExistsError(`${this.kind} name ${quote(name)} is reserved for ${this.kind} ${holder.id}`);
    }
    this.holders.set(name, { id, fingerprint: fingerprint ?? holder?.fingerprint });
  }

  /** The ID holding `name`, if any. */
  owner(name: string): string | undefined {
    return this.holders.get(name)?.id;
  }

  /** Frees a name; only its owner may free it. */
  release(name: string, id: string): void {
    if (this.holders.get(name)?.id === id) this.holders.delete(name);
  }

  /**
   * Creates an object under `name` exactly once per distinct request:
   * - free name: reserves it for a new ID and runs `work(id)`; if work fails the name is freed;
   * - held by an identical request (same fingerprint): returns that object's ID, waiting for its
   *   create to finish if it still runs;
   * - held by a different request: AlreadyExistsError naming the holder.
   * When the caller's signal aborts, the caller gets DeadlineExceededError but `work` goes on, so
   * an identical retry later receives its result instead of a reservation conflict.
   */
  async claim(options: ClaimOptions, work: (id: string) => Promise<void>): Promise<string> {
    const { name, fingerprint, signal, rpc } = options;
    const timedOut = (id: string) => () =>
      new DeadlineExceededError(`${rpc} for ${this.kind} ${quote(name)} (${id}) is still in progress; retry the identical request to get its ID`);
    const holder = this.holders.get(name);
    if (holder !== undefined) {
      if (holder.fingerprint !== fingerprint) {
        const why = holder.fingerprint === undefined ? '' : ' by a request with different settings; remove it first or use a new attempt number';
        throw new AlreadyExistsError(`${this.kind} name ${quote(name)} is reserved for ${this.kind} ${holder.id}${why}`);
      }
      if (holder.pending) await untilAborted(holder.pending, signal, timedOut(holder.id));
      return holder.id;
    }
    const id = options.newId();
    const entry: Holder = { id, fingerprint };
    this.holders.set(name, entry);
    const pending = work(id).then(
      () => {
        delete entry.pending;
      },
      (err: unknown) => {
        this.release(name, id);
        throw err;
      },
    );
    entry.pending = pending;
    // Nobody may be waiting any more (client gone): keep a late failure from being unhandled.
    pending.catch(() => undefined);
    await untilAborted(pending, signal, timedOut(id));
    return id;
  }
}

/** CRI-O's pod name: k8s_POD_<name>_<namespace>_<uid>_<attempt>. */
export function podSandboxName(m: { name: string; namespace: string; uid: string; attempt: number }): string {
  return `k8s_POD_${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

/** CRI-O's container name: k8s_<ctr>_<pod>_<namespace>_<uid>_<attempt>. */
export function containerName(ctr: { name: string; attempt: number }, pod: { name: string; namespace: string; uid: string }): string {
  return `k8s_${ctr.name}_${pod.name}_${pod.namespace}_${pod.uid}_${ctr.attempt}`;
}
