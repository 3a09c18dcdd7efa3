import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecordFile } from '../lib/storage/record-file';
import { percentile } from './stats';

/**
 * What the shared store's locking costs on the hot paths (ListImages reads images.json; pulls and
 * creates write records): an fcntl lock through os-lock, the 64-byte token read, the mtime check,
 * and a re-parse only when another process wrote. A read when nothing changed must cost no parse.
 * Floor: one fs.stat of the same file (one libuv round trip). The "foreign write" case has a
 * second process touch the lock and rewrite the file before each read, as podman would.
 * Usage: node build/bench/store-locks.js [records=200] [iterations=2000]
 */

const RECORDS = Number(process.argv[2] ?? 200);
const N = Number(process.argv[3] ?? 2000);

async function timeUs(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return out;
}

/** Another process that rewrites the file under the lock each time it reads a line on stdin. */
function foreignWriter(file: string, lock: string): { write: () => Promise<void>; stop: () => void } {
  const script = `
    const { RecordFile } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'storage', 'record-file.js'))});
    const f = new RecordFile(${JSON.stringify(file)}, ${JSON.stringify(lock)}, { durable: false });
    process.stdin.on('data', async () => { await f.write((r) => ({ records: [...r], result: 0 })); process.stdout.write('.'); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  return {
    write: () =>
      new Promise<void>((resolve) => {
        child.stdout.once('data', () => resolve());
        child.stdin.write('\n');
      }),
    stop: () => child.kill(),
  };
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-bench-locks-'));
  try {
    const file = path.join(dir, 'images.json');
    const lock = path.join(dir, 'images.lock');
    const records = Array.from({ length: RECORDS }, (_, i) => ({ id: i.toString(16).padStart(64, '0'), names: [`example.test/img${i}:latest`], layer: 'a'.repeat(64), metadata: '{}' }));
    const f = new RecordFile<{ id: string }>(file, lock, { durable: false });
    await f.write(() => ({ records, result: 0 }));
    const floor = await timeUs(N, () => fs.stat(file));
    const loadsBefore = f.loadCount;
    const unchanged = await timeUs(N, () => f.read((r) => r.length));
    const parsesWhenUnchanged = f.loadCount - loadsBefore;
    const writes = await timeUs(Math.min(N, 300), () => f.write((r) => ({ records: [...r], result: 0 })));
    const other = foreignWriter(file, lock);
    const reloads: number[] = [];
    for (let i = 0; i < Math.min(N, 300); i++) {
      await other.write();
      reloads.push(...(await timeUs(1, () => f.read((r) => r.length))));
    }
    other.stop();
    const p50 = (xs: number[]): number => percentile(xs, 50);
    const row = (name: string, xs: number[]): string => `${name.padEnd(52)} ${p50(xs).toFixed(0).padStart(6)} µs  p99 ${percentile(xs, 99).toFixed(0).padStart(6)} µs  ${(p50(xs) / p50(floor)).toFixed(1).padStart(5)}× floor`;
    console.log(`${RECORDS} records (${(await fs.stat(file)).size} bytes), ${N} iterations`);
    console.log(row('floor: fs.stat of the file', floor));
    console.log(row('read, nothing changed (lock, token, mtime)', unchanged));
    console.log(row('read after another process wrote (re-parse)', reloads));
    console.log(row('write (lock, atomic rewrite, token)', writes));
    console.log(`parses during the ${N} unchanged reads: ${parsesWhenUnchanged}`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
