import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DAEMON_NODE_ARGS, daemonLaunchEnv } from '../lib/server/launch-env';
import type { TestDaemon } from '../test/harness/daemon';

/**
 * Memory of processes as the kernel counts it, for the footprint benches: VmRSS (what `ps` and
 * the target speak of) split into anonymous and file-backed pages, and PSS (shared library
 * pages divided among their users, which is what N conmons really cost together).
 */

/** One process's memory in KiB. */
export interface ProcMemory {
  rss: number;
  anon: number;
  file: number;
  /** Peak RSS since start (VmHWM). */
  hwm: number;
}

function field(status: string, name: string): number {
  return Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
}

/** RSS figures from /proc/<pid>/status (NaN when the process is gone). */
export async function procMemory(pid: number): Promise<ProcMemory> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return { rss: field(status, 'VmRSS'), anon: field(status, 'RssAnon'), file: field(status, 'RssFile'), hwm: field(status, 'VmHWM') };
}

/** Proportional set size in KiB (shared pages split among the processes mapping them). */
export async function pssKiB(pid: number): Promise<number> {
  const rollup = await fs.readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return field(rollup, 'Pss');
}

/** The daemon's PID: the node process whose command line names this test daemon's config. */
export async function daemonPid(daemon: TestDaemon): Promise<number> {
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(path.join(daemon.dir, 'crio.conf'))) return Number(entry);
  }
  throw new Error('daemon process not found');
}

/**
 * RSS once it stops moving: V8's memory reducer shrinks the heap some seconds after activity
 * ends (its memory reducer waits 8 s, then works in steps; after a burst of RPCs it was seen to
 * act 40 s later), so a reading taken right away mostly measures garbage. Samples every 500 ms;
 * after `minMs`, returns as soon as the last 3 s stayed within 256 KiB (or at `maxMs`).
 */
export async function settledMemory(pid: number, minMs = 50_000, maxMs = 80_000): Promise<ProcMemory> {
  const started = Date.now();
  const window: ProcMemory[] = [];
  for (;;) {
    const m = await procMemory(pid);
    window.push(m);
    if (window.length > 6) window.shift();
    const elapsed = Date.now() - started;
    const rss = window.map((w) => w.rss);
    if ((elapsed >= minMs && window.length === 6 && Math.max(...rss) - Math.min(...rss) <= 256) || elapsed >= maxMs) return m;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Settled RSS of a bare `node` that requires `modules` (paths or package names resolved from
 * this file) and idles: the floor the daemon's own code sits on. Started with the environment
 * and node flags the daemon is launched with (lib/server/launch-env.ts), so floor and daemon compare alike.
 */
export async function nodeFloor(modules: string[]): Promise<ProcMemory> {
  const script = `${modules.map((m) => `require(${JSON.stringify(m)});`).join('')}setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [...DAEMON_NODE_ARGS, '-e', script], { stdio: 'ignore', cwd: __dirname, env: { ...daemonLaunchEnv(), ...process.env } });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    return await settledMemory(child.pid ?? 0, 15_000, 30_000);
  } finally {
    child.kill();
  }
}

/** KiB as MiB with one decimal. */
export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** A one-line summary of a ProcMemory. */
export function memoryLine(label: string, m: ProcMemory): string {
  return `${label.padEnd(44)} RSS ${mib(m.rss).padStart(6)} MiB  (anon ${mib(m.anon)}, file ${mib(m.file)}; peak ${mib(m.hwm)})`;
}

/** CPU time (user + system) a process has used, in ms (clock-tick resolution). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}
