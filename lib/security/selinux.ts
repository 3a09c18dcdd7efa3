import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * SELinux labels for pods and containers (go-selinux `InitLabels` + CRI-O `SelinuxLabel` /
 * `configureSELinuxLabels`), pure. Every container of a pod shares the pod's MCS level, so its
 * processes can share the pod's files while pods stay apart.
 */

/** CRI SELinuxOption; empty strings mean "not set". */
export interface SELinuxOptions {
  user?: string;
  role?: string;
  type?: string;
  level?: string;
}

/** A process label and the matching file (mount) label; '' = no label. */
export interface SELinuxLabels {
  processLabel: string;
  mountLabel: string;
}

/** The `process`/`file` contexts of container-selinux's lxc_contexts, the usual base labels. */
export interface SELinuxBase {
  process: string;
  file: string;
}

/** container-selinux defaults (/etc/selinux/targeted/contexts/lxc_contexts). */
export const DEFAULT_SELINUX_BASE: SELinuxBase = {
  process: 'system_u:system_r:container_t:s0',
  file: 'system_u:object_r:container_file_t:s0',
};

/** The type that marks a super-privileged container: its volumes are never relabeled. */
export const SUPER_PRIVILEGED_TYPE = 'spc_t';

const MCS_CATEGORIES = 1024;

interface Context {
  user: string;
  role: string;
  type: string;
  level: string;
}

function parseContext(label: string): Context {
  const parts = label.split(':');
  if (parts.length < 4) throw new InvalidArgumentError(`invalid SELinux context ${quote(label)}: want user:role:type:level`);
  const [user = '', role = '', type = '', ...level] = parts;
  return { user, role, type, level: level.join(':') };
}

const format = (c: Context): string => `${c.user}:${c.role}:${c.type}:${c.level}`;

/** Each option must be a single context field: a colon in user/role/type would shift the others. */
function checkOptions(options: SELinuxOptions): void {
  for (const key of ['user', 'role', 'type'] as const) {
    const v = options[key];
    if (v && !/^[A-Za-z0-9_.-]+$/.test(v)) throw new InvalidArgumentError(`invalid SELinux ${key} ${quote(v)}`);
  }
  if (options.level && !/^[A-Za-z0-9_.,:-]+$/.test(options.level)) throw new InvalidArgumentError(`invalid SELinux level ${quote(options.level)}`);
}

/**
 * The pod's MCS level `s0:cA,cB` (A < B), derived from the pod ID: unique per pod with the same odds
 * as go-selinux's random pick, but stable across restarts without having to be stored.
 */
export function podMcsLevel(podSandboxId: string): string {
  const digest = createHash('sha256').update(podSandboxId).digest();
  const a = digest.readUInt16BE(0) % MCS_CATEGORIES;
  let b = digest.readUInt16BE(2) % MCS_CATEGORIES;
  if (b === a) b = (b + 1) % MCS_CATEGORIES;
  return `s0:c${Math.min(a, b)},c${Math.max(a, b)}`;
}

/**
 * Labels from a base and CRI options, go-selinux style: user and level apply to both labels, role and
 * type to the process label only.
 */
export function labelsFromOptions(base: SELinuxBase, level: string, options: SELinuxOptions): SELinuxLabels {
  checkOptions(options);
  const process = { ...parseContext(base.process), level };
  const mount = { ...parseContext(base.file), level };
  if (options.user) process.user = mount.user = options.user;
  if (options.role) process.role = options.role;
  if (options.type) process.type = options.type;
  if (options.level) process.level = mount.level = options.level;
  return { processLabel: format(process), mountLabel: format(mount) };
}

/** Input of containerSelinuxLabels. */
export interface ContainerSELinuxInput {
  podSandboxId: string;
  base?: SELinuxBase;
  podOptions?: SELinuxOptions;
  containerOptions?: SELinuxOptions;
  privileged: boolean;
  hostPid: boolean;
  hostIpc: boolean;
  hostNetwork: boolean;
  /** CRI-O `hostnetwork_disable_selinux` (default true). */
  hostNetworkDisablesSelinux: boolean;
}

/**
 * A container's labels: the pod's labels (its MCS level) with the container's options on top;
 * no process label when privileged or (by default) host-network; no labels at all with host PID or IPC.
 */
export function containerSelinuxLabels(input: ContainerSELinuxInput): SELinuxLabels {
  const base = input.base ?? DEFAULT_SELINUX_BASE;
  const pod = labelsFromOptions(base, podMcsLevel(input.podSandboxId), input.podOptions ?? {});
  const podContext = parseContext(pod.processLabel);
  const merged: SELinuxOptions = { user: podContext.user, role: podContext.role, type: podContext.type, level: podContext.level };
  for (const key of ['user', 'role', 'type', 'level'] as const) {
    const v = input.containerOptions?.[key];
    if (v) merged[key] = v;
  }
  const labels = labelsFromOptions(base, podContext.level, merged);
  if (input.hostPid || input.hostIpc) return { processLabel: '', mountLabel: '' };
  if (input.privileged || (input.hostNetwork && input.hostNetworkDisablesSelinux)) return { processLabel: '', mountLabel: labels.mountLabel };
  return labels;
}

/** Whether CRI volumes may be relabeled: never for spc_t containers, or spc_t pods whose container sets no type. */
export function volumeRelabelAllowed(podOptions: SELinuxOptions | undefined, containerOptions: SELinuxOptions | undefined): boolean {
  const ctrType = containerOptions?.type ?? '';
  if (ctrType === SUPER_PRIVILEGED_TYPE) return false;
  return !((podOptions?.type ?? '') === SUPER_PRIVILEGED_TYPE && ctrType === '');
}
