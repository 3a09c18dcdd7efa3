import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pidAlive, processGroup, processStartTime, readPidFile, sameProcessAlive } from './pids';

test('readPidFile', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pids-'));
  try {
    const cases: { name: string; content?: string; want: number | undefined }[] = [
      { name: 'missing', want: undefined },
      { name: 'pid', content: '1234', want: 1234 },
      { name: 'pid with newline', content: '42\n', want: 42 },
      { name: 'empty (runc not done yet)', content: '', want: undefined },
      { name: 'zero', content: '0', want: undefined },
    ];
    for (const [i, c] of cases.entries()) {
      const file = path.join(dir, String(i));
      if (c.content !== undefined) await fs.writeFile(file, c.content);
      assert.equal(await readPidFile(file), c.want, c.name);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('pidAlive and processGroup of this process and of a missing one', async () => {
  assert.equal(await pidAlive(process.pid), true);
  assert.equal(await processGroup(process.pid), Number((await fs.readFile('/proc/self/stat', 'utf8')).split(') ')[1]?.split(' ')[2]));
  assert.equal(await pidAlive(2 ** 30), false);
  assert.equal(await processGroup(2 ** 30), undefined);
});

test('sameProcessAlive tells a reused PID apart by start time', async () => {
  const start = await processStartTime(process.pid);
  assert.match(start ?? '', /^\d+$/);
  const cases: { name: string; pid: number; startTime: string | undefined; want: boolean }[] = [
    { name: 'same process', pid: process.pid, startTime: start, want: true },
    { name: 'start time unknown', pid: process.pid, startTime: undefined, want: true },
    { name: 'different start time (PID reused)', pid: process.pid, startTime: '1', want: false },
    { name: 'no such process', pid: 2 ** 30, startTime: start, want: false },
  ];
  for (const c of cases) assert.equal(await sameProcessAlive(c.pid, c.startTime), c.want, c.name);
});
