import { spawn as forkSpawn } from 'node:child_process';
import { once } from 'node:events';
import { spawn, spawnBackend } from '../lib/spawn';
import { percentile, result, row, runBench } from './stats';

/**
 * What starting one program costs the daemon's event loop (issue 17): the time spawn() blocks,
 * and the time to the child's exit, for Node's spawn (libuv fork) and lib/spawn.ts (posix_spawn),
 * alternating, from a process holding a daemon-sized heap (~50 MiB RSS, the daemon's idle size).
 * The floor is posix_spawn's own block; the ratio is how much more fork blocks.
 * Usage: node build/bench/spawn.js [rounds=200] [ballast objects=30000]
 */

const N = Number(process.argv[2] ?? 200);
const BALLAST = Number(process.argv[3] ?? 30_000);

async function main(): Promise<void> {
  const out = (l: string): void => void process.stdout.write(l + '\n');
  if (spawnBackend() !== 'posix_spawn') throw new Error('the posix_spawn addon is not built (npm run build) or this kernel has no pidfd');
  // Live objects like the daemon's records and caches: fork's cost grows with the pages mapped.
  const ballast = Array.from({ length: BALLAST }, (_, i) => ({ i, s: `record-${i}`, a: [i, i + 1] }));
  const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
  const block = { fork: [] as number[], posix: [] as number[] };
  const total = { fork: [] as number[], posix: [] as number[] };
  for (let i = 0; i < N + 10; i++) {
    for (const kind of i % 2 ? (['fork', 'posix'] as const) : (['posix', 'fork'] as const)) {
      const t0 = process.hrtime.bigint();
      const child = kind === 'fork' ? forkSpawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
      const b = ms(t0);
      await once(child, 'close');
      if (i >= 10) {
        block[kind].push(b);
        total[kind].push(ms(t0));
      }
    }
  }
  out(`daemon-sized heap: ${(process.memoryUsage().rss / 1048576).toFixed(1)} MiB RSS (${ballast.length} objects)`);
  out(row('event loop blocked: posix_spawn (floor)', block.posix));
  out(row('event loop blocked: Node spawn (fork)', block.fork));
  out(row('spawn to close: posix_spawn', total.posix));
  out(row('spawn to close: Node spawn (fork)', total.fork));
  const floor = percentile(block.posix, 50);
  out(result({ name: 'spawn block, fork vs posix_spawn', value: percentile(block.fork, 50), unit: 'ms', floor, ratio: percentile(block.fork, 50) / floor }));
  out(result({ name: 'spawn to close, fork vs posix_spawn', value: percentile(total.fork, 50), unit: 'ms', floor: percentile(total.posix, 50), ratio: percentile(total.fork, 50) / percentile(total.posix, 50) }));
}

runBench(main);
