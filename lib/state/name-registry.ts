import { AlreadyExistsError } from '../errors';

/**
 * Reserves unique names for pods and containers (CRI-O's registrar): the kubelet identifies a
 * pod by name+namespace+uid+attempt, and a second create with the same name must fail clearly
 * rather than produce two objects.
 */
export class NameRegistry {
  private readonly owners = new Map<string, string>();

  constructor(private readonly kind: string) {}

  /** Reserves `name` for `id`; AlreadyExistsError names the current owner. */
  reserve(name: string, id: string): void {
    const owner = this.owners.get(name);
    if (owner !== undefined && owner !== id) {
      throw new AlreadyExistsError(`${this.kind} name ${JSON.stringify(name)} is reserved for ${this.kind} ${owner}`);
    }
    this.owners.set(name, id);
  }

  /** The ID holding `name`, if any. */
  owner(name: string): string | undefined {
    return this.owners.get(name);
  }

  /** Frees a name; only its owner may free it. */
  release(name: string, id: string): void {
    if (this.owners.get(name) === id) this.owners.delete(name);
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
