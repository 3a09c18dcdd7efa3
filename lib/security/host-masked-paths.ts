import { promises as fs } from 'node:fs';

/**
 * containers/common's host-dependent masked path `/sys/devices/system/cpu/cpu*\/thermal_throttle`,
 * expanded on the host like Go's filepath.Glob (only CPUs that have the directory).
 */
export async function hostMaskedPaths(cpuDir = '/sys/devices/system/cpu'): Promise<string[]> {
  const entries = await fs.readdir(cpuDir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of entries.filter((e) => e.startsWith('cpu')).sort()) {
    const p = `${cpuDir}/${name}/thermal_throttle`;
    if (await fs.access(p).then(() => true, () => false)) out.push(p);
  }
  return out;
}
