import { promises as fs } from 'node:fs';
import os from 'node:os';
import { readHostCapabilities } from '../security/host-capabilities';
import type { HostInfo } from './deps';

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Probes what the host supports, once at start: capabilities of the daemon, whether AppArmor,
 * SELinux and seccomp are active. Pure security code takes the result as input.
 */
export async function probeHost(): Promise<HostInfo> {
  const capabilities = await readHostCapabilities();
  const apparmor = (await readText('/sys/module/apparmor/parameters/enabled'))?.trim() === 'Y';
  const selinux = (await readText('/sys/fs/selinux/enforce')) !== undefined;
  const status = (await readText('/proc/self/status')) ?? '';
  const seccomp = /^Seccomp:\s*\d+/m.test(status);
  const maxUserns = Number((await readText('/proc/sys/user/max_user_namespaces'))?.trim() ?? '0');
  const userNamespaces = maxUserns > 0 && kernelAtLeast(os.release(), 5, 19);
  return { capabilities, apparmor, selinux, seccomp, canLowerOomScoreAdj: capabilities.includes('CAP_SYS_RESOURCE'), userNamespaces };
}

/** Whether a `uname -r` release string is at least major.minor. */
export function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}
