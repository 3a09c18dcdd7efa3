import { InvalidArgumentError } from '../errors';

/**
 * Capability resolution for one container, following CRI-O's `SpecSetupCapabilities` and
 * runtime-tools' `SetupPrivileged`. Pure: the caller supplies what the host supports.
 */

/** Every capability Linux knows, indexed by its number (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** CRI-O's `default_capabilities` (crio.conf default). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'KILL',
];

/** The five OCI capability sets. */
export interface CapabilitySets {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

/** Input of resolveCapabilities; `add`/`drop` are the CRI `Capability` lists. */
export interface CapabilitiesInput {
  /** crio.conf `default_capabilities` (names in any accepted spelling). */
  defaults: readonly string[];
  add: readonly string[];
  drop: readonly string[];
  privileged: boolean;
  /** Caps the daemon itself holds (its bounding set); others are removed with a warning. */
  hostCapabilities?: readonly string[];
  /** crio.conf `add_inheritable_capabilities`. */
  addInheritable: boolean;
}

/** Canonical `CAP_X` spelling of a capability name, or undefined when Linux has no such capability. */
export function normalizeCapability(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  const prefixed = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return ALL_CAPABILITIES.includes(prefixed) ? prefixed : undefined;
}

function requireCapability(name: string, list: 'add' | 'drop' | 'default'): string {
  const cap = normalizeCapability(name);
  if (cap === undefined) throw new InvalidArgumentError(`unknown capability "${name}" to ${list === 'default' ? 'add (default_capabilities)' : list}`);
  return cap;
}

const isAll = (name: string): boolean => name.trim().toUpperCase() === 'ALL';

/**
 * Computes the capability sets. Order of operations is CRI-O's (k8s#51980 semantics): defaults are
 * used only when neither list says ALL; `add ALL` fills, then `drop ALL` empties, then single adds,
 * then single drops — so `drop ALL, add X` is exactly X and `add ALL, drop X` is all but X.
 *
 * Effective and permitted equal bounding even for non-root users, as in CRI-O: ambient stays empty,
 * so the kernel clears effective/permitted at execve() for a non-zero uid, which is exactly what
 * Kubernetes expects ("switching to a non-root user drops capabilities"). Privileged containers get
 * every host capability in all five sets, ambient included (runtime-tools `SetupPrivileged`).
 */
export function resolveCapabilities(input: CapabilitiesInput): { capabilities: CapabilitySets; warnings: string[] } {
  const warnings: string[] = [];
  const host = input.hostCapabilities === undefined ? undefined : new Set(input.hostCapabilities.map((c) => normalizeCapability(c) ?? c));
  const supported = host === undefined ? [...ALL_CAPABILITIES] : ALL_CAPABILITIES.filter((c) => host.has(c));

  if (input.privileged) {
    return {
      capabilities: { bounding: [...supported], effective: [...supported], permitted: [...supported], inheritable: [...supported], ambient: [...supported] },
      warnings,
    };
  }

  // Validate everything first so a bad name fails the request even if a later ALL would hide it.
  const adds = input.add.filter((n) => !isAll(n)).map((n) => requireCapability(n, 'add'));
  const drops = input.drop.filter((n) => !isAll(n)).map((n) => requireCapability(n, 'drop'));
  const addAll = input.add.some(isAll);
  const dropAll = input.drop.some(isAll);
  const defaults = addAll || dropAll ? [] : input.defaults.map((n) => requireCapability(n, 'default'));

  const set: string[] = [];
  const add = (cap: string): void => {
    if (!set.includes(cap)) set.push(cap);
  };
  const remove = (cap: string): void => {
    const i = set.indexOf(cap);
    if (i >= 0) set.splice(i, 1);
  };
  if (addAll) ALL_CAPABILITIES.forEach(add);
  if (dropAll) set.length = 0;
  // CRI-O appends the defaults after the CRI adds, so that is the order in the spec too.
  [...adds, ...defaults].forEach(add);
  drops.forEach(remove);

  const final = host === undefined ? set : set.filter((cap) => host.has(cap));
  if (host !== undefined) {
    // Asking runc for a capability the daemon does not hold makes capset(2) fail with EPERM.
    const explicit = new Set([...adds, ...defaults]);
    for (const cap of set) {
      if (!host.has(cap) && explicit.has(cap)) warnings.push(`capability ${cap} is not available on this host; dropped`);
    }
  }
  return {
    capabilities: {
      bounding: [...final],
      effective: [...final],
      permitted: [...final],
      inheritable: input.addInheritable ? [...final] : [],
      ambient: [],
    },
    warnings,
  };
}
