import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What pods and containers of the suite's daemon left on the host, found by their IDs: mounts,
 * pinned namespaces, cgroups, processes (conmon carries the container ID in its arguments), and
 * the kubelet's log directories. Only the suite's own IDs and namespace are looked at: other
 * work on the machine does not count.
 */

const CGROUP_ROOT = '/sys/fs/cgroup';

async function cgroupDirsNamed(ids: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (ids.some((id) => e.name.includes(id))) found.push(p);
      else if (depth > 0) await walk(p, depth - 1);
    }
  };
  for (const controller of await fs.readdir(CGROUP_ROOT).catch(() => [])) await walk(path.join(CGROUP_ROOT, controller), 3);
  return found;
}

async function processesNaming(ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (ids.some((id) => cmdline.includes(id))) out.push(`pid ${pid}: ${cmdline.replace(/\0/g, ' ').trim()}`);
  }
  return out;
}

/** Everything found for `ids` (pod and container IDs); empty when the host is clean. */
export async function leftoversOf(ids: readonly string[], namespacesDir: string): Promise<string[]> {
  if (ids.length === 0) return [];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => ids.some((id) => l.includes(id)))
    .map((l) => `mount ${l.split(' ')[4] ?? l}`);
  const nsFiles = ['netns', 'ipcns', 'utsns', 'userns', 'pidns']
    .flatMap((kind) => ids.map((id) => path.join(namespacesDir, kind, id)))
    .filter((p) => existsSync(p))
    .map((p) => `namespace file ${p}`);
  const cgroups = (await cgroupDirsNamed(ids)).map((p) => `cgroup ${p}`);
  const procs = (await processesNaming(ids)).map((p) => `process ${p}`);
  return [...mounts, ...nsFiles, ...cgroups, ...procs];
}

/** The kubelet's per-pod log directories and per-container symlinks of a namespace (hard-coded paths). */
export async function kubeletLogEntries(namespace: string): Promise<string[]> {
  const pods = (await fs.readdir('/var/log/pods').catch(() => [])).filter((n) => n.startsWith(`${namespace}_`)).map((n) => `/var/log/pods/${n}`);
  const links = (await fs.readdir('/var/log/containers').catch(() => [])).filter((n) => n.includes(`_${namespace}_`)).map((n) => `/var/log/containers/${n}`);
  return [...pods, ...links];
}

/** Removes the suite's entries from /var/log/pods and /var/log/containers. */
export async function removeKubeletLogEntries(namespace: string): Promise<void> {
  for (const p of await kubeletLogEntries(namespace)) await fs.rm(p, { recursive: true, force: true });
}
