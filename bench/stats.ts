/** Percentile of a list of durations (ms), nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] ?? NaN;
}

/** Milliseconds elapsed while running `fn`. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** One line of a figures table. */
export function row(name: string, values: number[]): string {
  return `${name.padEnd(44)} p50 ${percentile(values, 50).toFixed(1).padStart(7)} ms   p90 ${percentile(values, 90).toFixed(1).padStart(7)} ms   (n=${values.length})`;
}
