/** Pure parsers for cgroup (v1 and v2) and /proc files read by the stats code. */

/** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control, cpuacct.stat). */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value && /^\d+$/.test(value)) out.set(key, BigInt(value));
  }
  return out;
}

/** v1 limits at or above this are "unlimited" (the kernel reports PAGE_COUNTER_MAX rounded to pages). */
const V1_UNLIMITED = 1n << 62n;

/** A single-number file; `max` (v2) or a v1 "unlimited" value gives undefined. */
export function parseLimit(text: string): bigint | undefined {
  const t = text.trim();
  if (t === 'max' || !/^\d+$/.test(t)) return undefined;
  const n = BigInt(t);
  return n >= V1_UNLIMITED ? undefined : n;
}

/** One PSI line's figures. */
export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Total stall time in microseconds. */
  total: bigint;
}

/** A `*.pressure` file: `some …` and (except for cpu on old kernels) `full …`. */
export interface Psi {
  some?: PsiLine;
  full?: PsiLine;
}

/** Parses cpu.pressure / memory.pressure / io.pressure. */
export function parsePsi(text: string): Psi {
  const out: Psi = {};
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const kv = new Map(pairs.map((p) => p.split('=') as [string, string]));
    const total = kv.get('total') ?? '0';
    out[kind] = {
      avg10: Number(kv.get('avg10') ?? 0),
      avg60: Number(kv.get('avg60') ?? 0),
      avg300: Number(kv.get('avg300') ?? 0),
      total: /^\d+$/.test(total) ? BigInt(total) : 0n,
    };
  }
  return out;
}

/** Counters of one network interface from /proc/<pid>/net/dev. */
export interface NetDevCounters {
  name: string;
  rxBytes: bigint;
  rxPackets: bigint;
  rxErrors: bigint;
  rxDropped: bigint;
  txBytes: bigint;
  txPackets: bigint;
  txErrors: bigint;
  txDropped: bigint;
}

/** Parses /proc/net/dev (two header lines, then `name: rx×8 tx×8`). */
export function parseNetDev(text: string): NetDevCounters[] {
  const out: NetDevCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map((v) => (/^\d+$/.test(v) ? BigInt(v) : 0n));
    if (f.length < 16) continue;
    const at = (i: number): bigint => f[i] ?? 0n;
    out.push({
      name,
      rxBytes: at(0),
      rxPackets: at(1),
      rxErrors: at(2),
      rxDropped: at(3),
      txBytes: at(8),
      txPackets: at(9),
      txErrors: at(10),
      txDropped: at(11),
    });
  }
  return out;
}
