import { memoryLine, mib, nodeFloor, type ProcMemory } from './proc-memory';
import { runBench } from './stats';

/**
 * What each dependency costs in a process's settled RSS: a bare `node` that requires only that
 * module and idles, minus a bare idle `node` (the floor), each the median of `rounds`. Tells which
 * packages are worth loading lazily (issue 17: idle RSS ≤ 52 MiB). Paths are resolved from
 * build/bench. Usage: node build/bench/dep-rss.js [rounds=3] [module …]
 */

const ROUNDS = Number(process.argv[2] ?? 3);
const DEFAULT_MODULES = [
  'node:http2',
  '@grpc/grpc-js',
  '../lib/cri/gen/api',
  '@bufbuild/protobuf',
  'hpack.js',
  'node-unix-socket',
  'spdy-transport',
  'ws',
  'tar-stream',
  '@iarna/toml',
  'js-yaml',
  'openpgp',
  'fzstd',
  'prom-client',
  '../lib/server/daemon',
];
const MODULES = process.argv.length > 3 ? process.argv.slice(3) : DEFAULT_MODULES;

async function median(modules: string[]): Promise<ProcMemory> {
  const runs: ProcMemory[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await nodeFloor(modules));
  runs.sort((a, b) => a.rss - b.rss);
  return runs[Math.floor(runs.length / 2)] as ProcMemory;
}

async function main(): Promise<void> {
  const out = (l: string): void => void process.stdout.write(l + '\n');
  const floor = await median([]);
  out(memoryLine('floor: node idle', floor));
  for (const m of MODULES) {
    const r = await median([m]);
    out(`${memoryLine(m, r)}   +${mib(r.rss - floor.rss)} MiB (anon +${mib(r.anon - floor.anon)}, file +${mib(r.file - floor.file)})`);
  }
}

runBench(main);
