import { promises as fs } from 'node:fs';
import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * cpuset.cpus / cpuset.mems values ("0-3,7"), checked before a container is made: runc would
 * otherwise fail late with the kernel's "invalid argument" from the cgroup write.
 */

/** Parses a Linux list ("0-3,7") into ranges; undefined when it is not one. */
export function parseCpuList(text: string): [number, number][] | undefined {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) return undefined;
  const ranges: [number, number][] = [];
  for (const part of text.split(',')) {
    const [a, b = a] = part.split('-').map(Number);
    if (a === undefined || !Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b < a) return undefined;
    ranges.push([a, b]);
  }
  return ranges;
}

/** Whether every number of `want` lies in `have` (pure). */
export function cpuListCovered(want: readonly [number, number][], have: readonly [number, number][]): boolean {
  return want.every(([a, b]) => {
    let next = a;
    for (const [x, y] of [...have].sort((p, q) => p[0] - q[0])) if (x <= next && y >= next) next = y + 1;
    return next > b;
  });
}

const ONLINE = { cpus: '/sys/devices/system/cpu/online', mems: '/sys/devices/system/node/online' } as const;

/** Refuses a cpuset value that is no list or names CPUs (memory nodes) that are not online; `field` names it. */
export async function checkCpuset(field: string, value: string, kind: keyof typeof ONLINE): Promise<void> {
  const what = kind === 'cpus' ? 'CPU' : 'memory node';
  const want = parseCpuList(value);
  if (!want) throw new InvalidArgumentError(`${field} ${quote(value)} is not a list of ${what} numbers and ranges (such as "0-3,7")`);
  // A host without NUMA has no node directory: node 0 only.
  const online = await fs.readFile(ONLINE[kind], 'utf8').then((t) => t.trim(), () => (kind === 'mems' ? '0' : undefined));
  const have = online === undefined ? undefined : parseCpuList(online);
  if (have && !cpuListCovered(want, have)) throw new InvalidArgumentError(`${field} ${quote(value)} names ${what}s that are not online (online: ${online ?? ''})`);
}
