import { spawn } from 'node:child_process';
import path from 'node:path';
import { percentile, type BenchResult } from './stats';

/**
 * Compares two builds of the daemon with one bench, A B A B: the bench (this checkout's, so the
 * client side is the same) runs `rounds` times against each build's daemon (CRIO_TS_BUILD, see
 * test/harness/daemon.ts), alternating, and the RESULT lines it prints are summarized as medians
 * over the runs, per build: value, floor, value/floor and value − floor.
 * Usage: node build/bench/ab.js <rounds> <build dir A> <build dir B> <bench.js> [bench args…]
 *   e.g. node build/bench/ab.js 3 /var/tmp/base/build build build/bench/teardown.js 10
 */

const [roundsArg, buildA, buildB, script, ...args] = process.argv.slice(2);

function run(build: string): Promise<BenchResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.resolve(script ?? ''), ...args], {
      env: { ...process.env, CRIO_TS_BUILD: path.resolve(build) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${script} against ${build} exited ${code}:\n${out}`));
      resolve(
        out
          .split('\n')
          .filter((l) => l.startsWith('RESULT '))
          .map((l) => JSON.parse(l.slice('RESULT '.length)) as BenchResult),
      );
    });
  });
}

const med = (xs: number[]): number => percentile(xs, 50);
const fmt = (x: number): string => (Number.isNaN(x) ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

async function main(): Promise<void> {
  const rounds = Number(roundsArg);
  if (!buildA || !buildB || !script || !(rounds > 0)) throw new Error('usage: ab.js <rounds> <build A> <build B> <bench.js> [args…]');
  const runs: Record<'A' | 'B', BenchResult[][]> = { A: [], B: [] };
  for (let i = 0; i < rounds; i++) {
    for (const which of ['A', 'B'] as const) {
      const results = await run(which === 'A' ? buildA : buildB);
      runs[which].push(results);
      process.stderr.write(`round ${i + 1}/${rounds} ${which}: ${results.length} results\n`);
    }
  }
  const names = [...new Set(runs.A.flat().map((r) => r.name))];
  const pick = (which: 'A' | 'B', name: string, f: (r: BenchResult) => number | undefined): number =>
    med(runs[which].flatMap((rs) => rs.filter((r) => r.name === name).map(f)).filter((x): x is number => x !== undefined));
  process.stdout.write(`| row | A | B | B/A | floor A | floor B | ratio A | ratio B | Δ A | Δ B |\n|---|---|---|---|---|---|---|---|---|---|\n`);
  for (const name of names) {
    const unit = runs.A.flat().find((r) => r.name === name)?.unit ?? '';
    const a = pick('A', name, (r) => r.value);
    const b = pick('B', name, (r) => r.value);
    const cells = [
      `${fmt(a)} ${unit}`,
      `${fmt(b)} ${unit}`,
      `${(b / a).toFixed(2)}×`,
      fmt(pick('A', name, (r) => r.floor)),
      fmt(pick('B', name, (r) => r.floor)),
      fmt(pick('A', name, (r) => r.ratio ?? (r.floor ? r.value / r.floor : undefined))),
      fmt(pick('B', name, (r) => r.ratio ?? (r.floor ? r.value / r.floor : undefined))),
      fmt(pick('A', name, (r) => r.diff)),
      fmt(pick('B', name, (r) => r.diff)),
    ];
    process.stdout.write(`| ${name} | ${cells.join(' | ')} |\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ab failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
