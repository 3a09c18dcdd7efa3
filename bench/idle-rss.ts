import { startDaemon } from '../test/harness/daemon';
import { daemonPid, memoryLine, mib, nodeFloor, settledMemory, type ProcMemory } from './proc-memory';
import { result, runBench } from './stats';

/**
 * The idle daemon's settled RSS (issue 17's target: ≤ 52 MiB), with metrics off (the default,
 * where prom-client must not even be loaded) and on, against the floor of a bare idle `node`.
 * Each figure is the median of ROUNDS daemons, since whether V8's memory reducer has run
 * varies by a few MiB. Usage: node build/bench/idle-rss.js [rounds=3] [net-index=171]
 * (CRIO_TS_BUILD=<build dir> measures another build's daemon; a second net index lets two runs
 * go side by side, which the before/after comparisons on a shared machine want).
 */

const ROUNDS = Number(process.argv[2] ?? 3);
const NET_INDEX = Number(process.argv[3] ?? 171);

async function idleDaemon(dropIn: string): Promise<ProcMemory> {
  const daemon = await startDaemon({ netIndex: NET_INDEX, noCni: true, dropIn });
  try {
    return await settledMemory(await daemonPid(daemon));
  } finally {
    await daemon.cleanup();
  }
}

async function median(label: string, dropIn: string): Promise<ProcMemory> {
  const runs: ProcMemory[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await idleDaemon(dropIn));
  runs.sort((a, b) => a.rss - b.rss);
  const m = runs[Math.floor(runs.length / 2)];
  process.stdout.write(`${memoryLine(label, m)}  [runs: ${runs.map((r) => mib(r.rss)).join(', ')}]\n`);
  return m;
}

async function main(): Promise<void> {
  const floor = await nodeFloor([]);
  process.stdout.write(memoryLine('floor: node idle', floor) + '\n');
  const quiet = '[crio.runtime]\nlog_level = "warn"\n';
  const off = await median('daemon idle, metrics off', quiet);
  const on = await median('daemon idle, enable_metrics = true', `${quiet}[crio.metrics]\nenable_metrics = true\nmetrics_port = 0\n`);
  process.stdout.write(`ratio to floor: metrics off ${(off.rss / floor.rss).toFixed(2)}×, on ${(on.rss / floor.rss).toFixed(2)}×; metrics cost +${mib(on.rss - off.rss)} MiB\n`);
  // For bench/ab.ts: RSS in MiB against the bare node floor.
  for (const [name, m] of [['idle RSS, metrics off', off], ['idle RSS, metrics on', on]] as const) {
    process.stdout.write(result({ name, value: m.rss / 1024, floor: floor.rss / 1024, diff: (m.rss - floor.rss) / 1024, unit: 'MiB' }) + '\n');
  }
}

runBench(main);
