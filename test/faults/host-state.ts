import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ContainerState, PodSandboxState } from '../../lib/cri/gen/api';
import { parseMountInfo } from '../../lib/mountinfo';
import { runProgram } from '../../lib/process';
import type { TestDaemon } from '../harness/daemon';

/**
 * The invariants the fault tests check after a crash, a restart and a retry: what the daemon
 * records agrees with runc and with the host, and nothing exists on the host that no record
 * owns — mounts, namespace files, CNI attachments, IP leases, bundles, writable layers,
 * cgroups, conmon, runc and exec processes. Only what this test daemon made is looked at (its
 * temp dir, its runc root, IDs it logged), because other checkouts run tests on the host at the
 * same time. Returns the violations, one readable line each, instead of asserting, so a table
 * can report them per fault point.
 */

const ID = /^[0-9a-f]{64}$/;
const CGROUP_CONTROLLERS = ['memory', 'pids', 'cpu'];
const CGROUP_PARENT = 'crio';

interface SandboxFile {
  id: string;
  state: string;
  infra?: unknown;
  hostNetwork: boolean;
  ips: string[];
}

async function ls(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => [] as string[]);
}

/** Every 64-hex ID the daemon ever mentioned in its log: what it made, even when it died before recording it. */
export function idsInLog(logs: string): Set<string> {
  return new Set(logs.match(/\b[0-9a-f]{64}\b/g) ?? []);
}

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

async function readProc(pid: number): Promise<Proc | undefined> {
  const [cmdline, stat] = await Promise.all([
    fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
  ]);
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (stat === '' || fields[0] === 'Z') return undefined;
  return { pid, ppid: Number(fields[1]), argv: cmdline.split('\0').filter(Boolean) };
}

/**
 * The processes that mention `needle` (this daemon's dir) in their command line: conmon and runc
 * name it in their arguments. Read synchronously: /proc files come from memory, and thousands of
 * async reads (a busy host) would cost a thread-pool round trip each.
 */
async function processesMentioning(needle: string): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!cmdline.includes(needle)) continue;
    const p = await readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

/** Whether `pid` runs under `ancestor`: true also for a process gone meanwhile (containers start short-lived children all the time). */
async function descendsFrom(procs: Map<number, Proc>, pid: number, ancestor: number): Promise<boolean> {
  let p: number | undefined = pid;
  for (let i = 0; p !== undefined && p > 1 && i < 64; i++) {
    if (p === ancestor) return true;
    // Started after the snapshot: look it up now.
    const proc: Proc | undefined = procs.get(p) ?? (await readProc(p));
    if (!proc) return true;
    procs.set(p, proc);
    p = proc.ppid;
  }
  return false;
}

/** Checks every invariant; [] when the host and the records agree. */
export async function invariantViolations(d: TestDaemon): Promise<string[]> {
  const bad: string[] = [];
  const pods = (await d.cri.runtime.listPodSandbox({})).items;
  const ctrs = (await d.cri.runtime.listContainers({})).containers;
  const records = new Map<string, SandboxFile>();
  for (const p of pods) {
    const file = path.join(d.dir, 'root', 'crio-state', 'sandboxes', `${p.id}.json`);
    records.set(p.id, JSON.parse(await fs.readFile(file, 'utf8')) as SandboxFile);
  }
  const ready = (id: string): boolean => pods.some((p) => p.id === id && p.state === PodSandboxState.SANDBOX_READY);
  const infraPods = new Set([...records.values()].filter((r) => r.infra).map((r) => r.id));
  const ctrIds = new Set(ctrs.map((c) => c.id));
  const owned = (id: string): boolean => ctrIds.has(id) || infraPods.has(id);
  const live = (id: string): boolean =>
    ctrs.some((c) => c.id === id && (c.state === ContainerState.CONTAINER_RUNNING || c.state === ContainerState.CONTAINER_CREATED)) ||
    (infraPods.has(id) && ready(id));

  // Records against runc.
  const runcList = await runProgram('runc', ['--root', path.join(d.dir, 'runc'), 'list', '--format', 'json']);
  const runc = new Map<string, { status: string; pid: number }>();
  for (const r of (JSON.parse(runcList.stdout.toString() || 'null') as { id: string; status: string; pid: number }[] | null) ?? []) runc.set(r.id, r);
  for (const [id, r] of runc) if (!owned(id)) bad.push(`runc has ${r.status} container ${id.slice(0, 12)} that no record owns`);
  const want: Record<number, string[]> = {
    [ContainerState.CONTAINER_CREATED]: ['created'],
    [ContainerState.CONTAINER_RUNNING]: ['running'],
    [ContainerState.CONTAINER_EXITED]: ['stopped', 'absent'],
  };
  for (const c of ctrs) {
    if (!records.has(c.podSandboxId)) bad.push(`container ${c.id.slice(0, 12)} belongs to no pod`);
    const st = runc.get(c.id)?.status ?? 'absent';
    if (!(want[c.state] ?? []).includes(st)) bad.push(`container ${c.id.slice(0, 12)} is ${ContainerState[c.state]} but runc says ${st}`);
  }
  for (const id of infraPods) {
    const st = runc.get(id)?.status ?? 'absent';
    if (ready(id) ? st !== 'running' : !['stopped', 'absent'].includes(st)) bad.push(`pod ${id.slice(0, 12)} is ${ready(id) ? 'ready' : 'not ready'} but its infra container is ${st}`);
  }

  // The shared store's containers (containers.json): writable layer → container.
  const stored = JSON.parse(await fs.readFile(path.join(d.dir, 'root', 'overlay-containers', 'containers.json'), 'utf8').catch(() => '[]')) as { id: string; layer: string }[];
  const layerOwner = new Map(stored.map((c) => [c.layer, c.id]));

  // Mounts and files under the daemon's dir.
  const mounts = parseMountInfo(await fs.readFile('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint).filter((m) => m.startsWith(d.dir + '/'));
  for (const m of mounts) {
    const rel = path.relative(d.dir, m).split('/');
    const [a, b, c, e] = rel;
    if (a === 'root' && b === 'overlay' && rel.length === 2) {
      // The driver home: a private bind mount of itself, as containers/storage keeps it.
    } else if (a === 'root' && b === 'overlay' && c && e === 'merged' && rel.length === 4) {
      const owner = layerOwner.get(c);
      if (owner === undefined || !owned(owner)) bad.push(`rootfs of layer ${c.slice(0, 12)} mounted without a record`);
    } else if (a === 'run' && b === 'crio-pods' && c && e === 'shm' && rel.length === 4) {
      if (!ready(c)) bad.push(`shm of pod ${c.slice(0, 12)} mounted but the pod is not ready`);
    } else if (a === 'ns' && b && c && rel.length === 3) {
      if (!ready(c)) bad.push(`${b} of pod ${c.slice(0, 12)} still pinned but the pod is not ready`);
    } else if (!(a === 'ns' && rel.length === 2)) {
      bad.push(`unexpected mount ${m}`);
    }
  }
  for (const kind of await ls(path.join(d.dir, 'ns'))) {
    for (const id of await ls(path.join(d.dir, 'ns', kind))) if (!ready(id)) bad.push(`${kind} file of pod ${id.slice(0, 12)} left behind`);
  }
  for (const id of await ls(path.join(d.dir, 'run', 'crio-bundles'))) if (!owned(id)) bad.push(`bundle ${id.slice(0, 12)} without a record`);
  for (const c of stored) if (ID.test(c.id) && !owned(c.id)) bad.push(`writable layer of ${c.id.slice(0, 12)} without a record`);
  for (const id of await ls(path.join(d.dir, 'run', 'crio-pods'))) if (!records.has(id)) bad.push(`pod dir ${id.slice(0, 12)} without a record`);
  for (const f of await ls(path.join(d.dir, 'root', 'crio-state', 'cni'))) {
    const id = f.replace(/\.json$/, '');
    if (ID.test(id) && !ready(id)) bad.push(`CNI attachment of ${id.slice(0, 12)} left behind`);
  }

  // IP leases (host-local keeps one file per IP holding the owner's ID).
  const leaseDir = path.join(d.dir, 'ipam', 'crio-ts-test');
  const leases = new Map<string, string[]>();
  for (const ip of (await ls(leaseDir)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n))) {
    const owner = (await fs.readFile(path.join(leaseDir, ip), 'utf8').catch(() => '')).split(/\s/)[0] ?? '';
    leases.set(owner, [...(leases.get(owner) ?? []), ip]);
    if (!ready(owner)) bad.push(`IP ${ip} leased to ${owner.slice(0, 12)}, which is not a ready pod`);
  }
  for (const r of records.values()) {
    if (ready(r.id) && !r.hostNetwork && (leases.get(r.id)?.length ?? 0) !== 1) bad.push(`ready pod ${r.id.slice(0, 12)} holds ${leases.get(r.id)?.length ?? 0} leases`);
  }

  // Port mappings: the portmap plugin's iptables rules name the pod's ID in their comments.
  const made = idsInLog(d.logs());
  const nat = (await runProgram('iptables-save', ['-t', 'nat'])).stdout.toString();
  for (const id of made) if (nat.includes(id) && !ready(id)) bad.push(`iptables rules of ${id.slice(0, 12)} left behind`);

  // Processes and cgroups of every ID the daemon made.
  const mentioning = await processesMentioning(d.dir + '/');
  const procs = new Map(mentioning.map((p) => [p.pid, p]));
  const bundles = path.join(d.dir, 'run', 'crio-bundles') + '/';
  const runcRoot = path.join(d.dir, 'runc');
  for (const p of mentioning) {
    const bundleArg = p.argv.find((a) => a.startsWith(bundles));
    if (p.argv[0]?.endsWith('conmon') && bundleArg) {
      const id = bundleArg.slice(bundles.length).split('/')[0] ?? '';
      if (!live(id)) bad.push(`conmon ${p.pid} of ${id.slice(0, 12)} runs but the record says it is not live`);
    }
    if (p.argv.includes(runcRoot) && !p.argv[0]?.endsWith('conmon')) bad.push(`runc process ${p.pid} (${p.argv.slice(3, 5).join(' ')}) left running`);
  }
  // Only the cgroups that exist, of IDs this daemon made.
  const present = new Set((await ls(path.join('/sys/fs/cgroup', 'pids', CGROUP_PARENT))).map((n) => n.replace(/^crio-/, '')).filter((id) => made.has(id)));
  for (const id of made) {
    if (!present.has(id)) {
      if (live(id)) bad.push(`live container ${id.slice(0, 12)} has no cgroup`);
      continue;
    }
    for (const ctl of CGROUP_CONTROLLERS) {
      const dir = path.join('/sys/fs/cgroup', ctl, CGROUP_PARENT, `crio-${id}`);
      const pids = (await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => undefined))?.split('\n').filter(Boolean).map(Number);
      if (pids === undefined) continue;
      // A container's, an infra container's, or the empty one of a pod without infra.
      if (!owned(id) && !records.has(id)) bad.push(`cgroup ${ctl}/${CGROUP_PARENT}/crio-${id.slice(0, 12)} without a record`);
      if (pids.length > 0 && !live(id)) bad.push(`${pids.length} processes in the cgroup of ${id.slice(0, 12)}, which is not live`);
      if (ctl !== 'pids') continue;
      const init = runc.get(id)?.pid ?? 0;
      for (const pid of pids) if (pid !== init && !(await descendsFrom(procs, pid, init))) bad.push(`process ${pid} (${procs.get(pid)?.argv.join(' ') ?? '?'}) in ${id.slice(0, 12)} is not under its init: an exec nobody waits for`);
    }
    const conmons = mentioning.filter((p) => p.argv[0]?.endsWith('conmon') && p.argv.includes(id) && p.argv.some((a) => a.startsWith(bundles)));
    if (live(id) && conmons.length !== 1) bad.push(`live container ${id.slice(0, 12)} has ${conmons.length} conmon processes`);
  }
  return bad;
}
