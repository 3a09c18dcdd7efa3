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

/** A figures line with p50 and p99 at 0.01 ms resolution (for sub-millisecond calls). */
export function rowFine(name: string, values: number[]): string {
  const f = (p: number) => percentile(values, p).toFixed(2).padStart(7);
  return `${name.padEnd(52)} p50 ${f(50)} ms   p99 ${f(99)} ms   (n=${values.length})`;
}

/** `n` timings of `fn` after 5 untimed warm-up calls (JIT, page cache). */
export async function sample(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 5; i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await timeMs(() => fn(i)));
  return out;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

/** Timings of `floor` and `fn` called alternately (the order swaps each round), with their paired differences. */
export interface Paired {
  floor: number[];
  value: number[];
  /** value − floor of the same round: noise that hits both halves of a round cancels. */
  diff: number[];
}

/** `n` rounds of `floor` and `fn` back to back, after 5 untimed warm-up rounds. */
export async function paired(n: number, floor: (i: number) => Promise<unknown>, fn: (i: number) => Promise<unknown>): Promise<Paired> {
  for (let i = 0; i < 5; i++) {
    await floor(i);
    await fn(i);
  }
  const out: Paired = { floor: [], value: [], diff: [] };
  for (let i = 0; i < n; i++) {
    let f: number;
    let v: number;
    if (i % 2 === 0) {
      f = await timeMs(() => floor(i));
      v = await timeMs(() => fn(i));
    } else {
      v = await timeMs(() => fn(i));
      f = await timeMs(() => floor(i));
    }
    out.floor.push(f);
    out.value.push(v);
    out.diff.push(v - f);
  }
  return out;
}

/** The median of the per-round ratios value / floor. */
export function pairedRatio(p: Paired): number {
  return percentile(
    p.value.map((v, i) => v / (p.floor[i] ?? NaN)),
    50,
  );
}

/** A figure for the A/B driver (bench/ab.ts), printed as one `RESULT {json}` line. */
export interface BenchResult {
  /** The row's name (stable across builds). */
  name: string;
  /** The figure (p50 ms, MiB, MB/s …). */
  value: number;
  unit: string;
  /** The floor measured in the same run, when the row has one. */
  floor?: number;
  /** value / floor, or value − floor for rows whose target is a difference (`diff`). */
  ratio?: number;
  diff?: number;
}

/** Prints a RESULT line (after the human-readable lines). */
export function result(r: BenchResult): string {
  return `RESULT ${JSON.stringify(r)}`;
}

/** Runs a bench's main, printing its failure and exiting 1 (a bench is a script, not a test). */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
