/** One case of the fault suite and what came of it. */
export interface Row {
  /** The operation (or case family) crashed. */
  what: string;
  /** The fault point (`area:step@n`) or the case. */
  point: string;
  /** The daemon died at the point (SIGKILL), or the fault was injected. */
  killed: boolean;
  /** The retry's answer: `ok` or a gRPC code name. */
  retry: string;
  /** Invariant and effect violations after the retry (empty: consistent). */
  violations: string[];
  /** Wall time of the case (set-up to clean-up), ms. */
  ms?: number;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** Prints the rows as a table on stderr (the test runner shows it). */
export function printTable(rows: readonly Row[]): void {
  const w = [Math.max(9, ...rows.map((r) => r.what.length)), Math.max(11, ...rows.map((r) => r.point.length)), 6, Math.max(5, ...rows.map((r) => r.retry.length)), 6];
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, w[i] ?? 0)).join('  ');
  const out = [line(['operation', 'fault point', 'killed', 'retry', 'ms', 'after restart + retry'])];
  for (const r of rows) {
    out.push(line([r.what, r.point, r.killed ? 'yes' : 'no', r.retry, r.ms === undefined ? '' : String(Math.round(r.ms)), r.violations.length === 0 ? 'consistent' : r.violations.join('; ')]));
  }
  const ok = rows.filter((r) => r.violations.length === 0).length;
  out.push(`${rows.length} cases, ${ok} consistent`);
  process.stderr.write(`\nfault injection outcomes\n${out.join('\n')}\n`);
}
