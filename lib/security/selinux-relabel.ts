import path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { runProgram, stderrTail } from '../process';

/**
 * Volume relabeling for CRI mounts with `selinux_relabel` (go-selinux `label.Relabel` with `:Z`
 * semantics): the tree gets the container's mount label. Only ever called when SELinux is enabled.
 */

/** System directories go-selinux refuses to relabel: relabeling them would break the host. */
const PROTECTED = new Set([
  '/', '/bin', '/boot', '/dev', '/etc', '/etc/passwd', '/etc/pki', '/etc/shadow', '/home', '/lib', '/lib64', '/media',
  '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/var/lib', '/var/log',
]);

/** Throws when relabeling this host path is not allowed. */
export function checkRelabelPath(hostPath: string): void {
  const p = path.normalize(hostPath).replace(/(.)\/$/, '$1');
  if (PROTECTED.has(p)) throw new InvalidArgumentError(`SELinux relabeling of ${p} is not allowed`);
}

/** Recursively sets the label on a host path (`chcon -R -h`); ENOTSUP filesystems are skipped like CRI-O. */
export async function relabelPath(hostPath: string, label: string): Promise<void> {
  checkRelabelPath(hostPath);
  const r = await runProgram('chcon', ['-R', '-h', '--', label, hostPath], { timeoutMs: 120_000 });
  if (r.exitCode === 0) return;
  const err = stderrTail(r);
  if (/Operation not supported/i.test(err)) return;
  throw new UnavailableError(`relabeling ${hostPath} to ${label} failed: ${err}`);
}
