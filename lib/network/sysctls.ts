import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * Pod sysctls (pure): which keys are namespaced and so may be set per pod, which namespace each
 * belongs to, and values that cannot smuggle a second assignment. Mirrors runc's validation and
 * CRI-O's rules: keys of a namespace the pod shares with the host are skipped, not applied.
 */

/** A validated sysctl: the /proc/sys path relative to /proc/sys and the value to write. */
export interface PodSysctl {
  key: string;
  path: string;
  value: string;
}

type Namespace = 'ipc' | 'net' | 'uts';

const IPC_KEYS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);
const UTS_KEYS = new Set(['kernel.domainname', 'kernel.hostname']);
const KEY_RE = /^[a-z0-9_]+([./][a-zA-Z0-9_.:-]+)*$/;

/** Normalises `a/b/c` to the dotted form used for the namespace checks. */
function dotted(key: string): string {
  return key.includes('/') ? key.replace(/\//g, '.') : key;
}

/** The namespace a sysctl belongs to; undefined for keys that are not namespaced. */
export function sysctlNamespace(key: string): Namespace | undefined {
  const k = dotted(key);
  if (IPC_KEYS.has(k) || k.startsWith('fs.mqueue.')) return 'ipc';
  if (UTS_KEYS.has(k)) return 'uts';
  if (k.startsWith('net.')) return 'net';
  return undefined;
}

/** Keys with `/` keep dots inside components (net/ipv4/conf/eth0.100/forwarding); dotted keys become paths. */
function procPath(key: string): string {
  return key.includes('/') ? key : key.replace(/\./g, '/');
}

/** Parses crio.conf `default_sysctls` entries ("key=value"). */
export function parseSysctlList(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`default_sysctls entry ${quote(e)} is not key=value`);
    out[e.slice(0, i).trim()] = e.slice(i + 1).trim();
  }
  return out;
}

/**
 * Validates a pod's sysctls (default_sysctls first, the pod's own override them) and splits them
 * into those to apply and those skipped because the pod uses the host's namespace.
 */
export function resolvePodSysctls(
  defaults: Record<string, string>,
  pod: Record<string, string>,
  host: { network: boolean; ipc: boolean },
): { apply: PodSysctl[]; skipped: string[] } {
  const merged = { ...defaults, ...pod };
  const apply: PodSysctl[] = [];
  const skipped: string[] = [];
  for (const [key, value] of Object.entries(merged)) {
    if (!KEY_RE.test(key) || key.includes('..')) throw new InvalidArgumentError(`sysctl name ${quote(key)} is invalid: dotted or slashed lower-case words`);
    const ns = sysctlNamespace(key);
    if (!ns) throw new InvalidArgumentError(`sysctl ${quote(key)} is not namespaced and cannot be set for a pod`);
    // '+' and '=' would let a value append another assignment (CRI-O pinns' separator), newlines too.
    if (/[+=\n\r\0]/.test(value)) throw new InvalidArgumentError(`sysctl ${quote(key)} value ${quote(value)} contains a forbidden character (+, =, a newline or NUL)`);
    if ((ns === 'net' || ns === 'uts') && host.network) {
      skipped.push(key);
      continue;
    }
    if (ns === 'ipc' && host.ipc) {
      skipped.push(key);
      continue;
    }
    apply.push({ key, path: procPath(key), value });
  }
  return { apply, skipped };
}

/**
 * In a user namespace the kernel takes only gids mapped there for `net.ipv4.ping_group_range`;
 * as CRI-O does, a range reaching past the pod's gids (e.g. the common "0 2147483647") is cut to
 * the ids the pod has (pure).
 */
export function clampPingGroupRange(sysctls: PodSysctl[], mappedGids: number): PodSysctl[] {
  return sysctls.map((s) => {
    if (s.key !== 'net.ipv4.ping_group_range' && s.key !== 'net/ipv4/ping_group_range') return s;
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(s.value);
    if (!m || mappedGids <= 0) return s;
    const low = Math.min(Number(m[1]), mappedGids - 1);
    const high = Math.min(Number(m[2]), mappedGids - 1);
    return { ...s, value: `${low}\t${high}` };
  });
}

