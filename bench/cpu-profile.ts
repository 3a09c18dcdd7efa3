import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * Summaries of a V8 .cpuprofile (what `node --cpu-prof` writes): self time by function and by
 * file, so a bench can print where a process spent its CPU without a viewer.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** A span of CLOCK_MONOTONIC time in µs (process.hrtime.bigint() / 1000n), as V8 stamps samples. */
export type Window = [number, number];

/** The monotonic clock in µs, comparable with a profile's sample times. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Self time (ms) per key, where `key` names a node (function, file…); only samples inside `window`. */
function selfTimes(profile: CpuProfile, key: (n: ProfileNode) => string, window?: Window): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window[0] || t > window[1])) return;
    const node = byId.get(id);
    if (!node) return;
    const k = key(node);
    out.set(k, (out.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

/** A short name for a script URL: the part from node_modules/<pkg> or build/ on, or node's own. */
function shortUrl(url: string): string {
  if (url === '') return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const b = url.lastIndexOf('/build/');
  if (b >= 0) return url.slice(b + '/build/'.length);
  return url.replace(/^file:\/\//, '');
}

function top(map: Map<string, number>, n: number, totalMs: number, perCall: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, ms]) => `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / totalMs).toFixed(1).padStart(5)}%  ${((ms * 1000) / perCall).toFixed(1).padStart(6)} µs/call  ${k}`);
}

/** The .cpuprofile files in `dir`, oldest first. */
export async function profilesIn(dir: string): Promise<string[]> {
  const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  const withTimes = await Promise.all(files.map(async (f) => ({ f, t: (await fs.stat(f)).mtimeMs })));
  return withTimes.sort((a, b) => a.t - b.t).map((x) => x.f);
}

/** Lines describing a profile: busy time, and the top self times by file and by function (per call when `calls` > 0). */
export async function summarizeProfile(file: string, calls: number, topN = 25, window?: Window): Promise<string[]> {
  const profile = JSON.parse(await fs.readFile(file, 'utf8')) as CpuProfile;
  const byFn = selfTimes(profile, (n) => `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`, window);
  const byFile = selfTimes(profile, (n) => (n.callFrame.url === '' ? n.callFrame.functionName : shortUrl(n.callFrame.url)), window);
  const idle = byFn.get('(idle) (native/vm):0') ?? 0;
  const total = [...byFn.values()].reduce((a, b) => a + b, 0);
  const busy = total - idle;
  const perCall = Math.max(1, calls);
  return [
    `profile ${path.basename(file)}${window ? ' (calls only)' : ''}: ${(total / 1000).toFixed(1)} s wall, ${(busy / 1000).toFixed(2)} s busy = ${((busy * 1000) / perCall).toFixed(0)} µs per call over ${calls} calls`,
    'self time by file:',
    ...top(byFile, topN, busy, perCall).filter((l) => !l.endsWith('(idle)')),
    'self time by function:',
    ...top(byFn, topN, busy, perCall).filter((l) => !l.includes('(idle)')),
  ];
}
