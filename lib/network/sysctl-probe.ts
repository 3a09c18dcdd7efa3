import { promises as fs } from 'node:fs';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { runProgram, stderrTail } from '../process';
import { quote } from '../quote';
import { sysctlNamespace, type PodSysctl } from './sysctls';

/**
 * Whether a pod's sysctls exist where they will be written, checked before anything is made for
 * the pod: an unknown key would otherwise fail the namespace set-up with a shell's error text.
 * Network sysctls are looked up in a fresh network namespace (a host-only key such as
 * net.core.rmem_max, or one of a host interface, does not exist in a pod's), listed once with
 * one `unshare --net` spawn and listed again when a key is missing (a module loaded since then,
 * e.g. nf_conntrack, adds keys). IPC and UTS keys are a fixed set every namespace has.
 */

let netKeys: Promise<Set<string>> | undefined;

/** The /proc/sys-relative paths of every sysctl a new network namespace has. */
function listNetSysctls(): Promise<Set<string>> {
  const p = (async () => {
    const r = await runProgram('unshare', ['--net', 'find', '/proc/sys/net', '-type', 'f'], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new UnavailableError(`cannot list the sysctls of a new network namespace: ${stderrTail(r)}`);
    return new Set(r.stdout.toString('utf8').split('\n').filter((l) => l.startsWith('/proc/sys/')).map((l) => l.slice('/proc/sys/'.length)));
  })();
  p.catch(() => undefined);
  return p;
}

async function netSysctlExists(path: string): Promise<boolean> {
  netKeys ??= listNetSysctls();
  const keys = await netKeys.catch((err: unknown) => {
    netKeys = undefined;
    throw err;
  });
  if (keys.has(path)) return true;
  netKeys = listNetSysctls();
  return (await netKeys).has(path);
}

/** InvalidArgumentError naming the first sysctl a pod's namespaces do not have; `field` names the request field. */
export async function checkPodSysctlsExist(field: string, sysctls: readonly PodSysctl[]): Promise<void> {
  for (const s of sysctls) {
    const exists =
      sysctlNamespace(s.key) === 'net'
        ? await netSysctlExists(s.path)
        : await fs.access(`/proc/sys/${s.path}`).then(
            () => true,
            () => false,
          );
    if (!exists) throw new InvalidArgumentError(`${field} key ${quote(s.key)} does not exist in a pod's namespaces (no /proc/sys/${s.path}): the kernel has no such sysctl`);
  }
}
