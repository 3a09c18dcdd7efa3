import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { test } from 'node:test';
import { readKernelFile } from './procfs';

test('readKernelFile: a size-0 /proc file reads whole, as fs.readFile reads it', async () => {
  const [ours, node] = await Promise.all([readKernelFile('/proc/self/status'), fs.readFile('/proc/self/status', 'utf8')]);
  assert.equal((await fs.stat('/proc/self/status')).size, 0);
  assert.match(ours, /^Name:/);
  // Same lines, whatever changed between the two reads (VmRSS and the like).
  assert.deepEqual(
    ours.split('\n').map((l) => l.split(':')[0]),
    node.split('\n').map((l) => l.split(':')[0]),
  );
});

test('readKernelFile: a missing file rejects with ENOENT (callers .catch it), never throws synchronously', async () => {
  const p = readKernelFile('/proc/0/stat');
  assert.ok(p instanceof Promise);
  await assert.rejects(p, { code: 'ENOENT' });
});

test('readKernelFile: no 64 KiB ArrayBuffer per read (issue 17: the monitor reads /proc/<pid>/stat per container per second)', async () => {
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 100; i++) await readKernelFile(`/proc/${process.pid}/stat`);
  // fs.promises.readFile allocated two 64 KiB buffers per read of such a file: 12.5 MiB here.
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, `arrayBuffers grew ${process.memoryUsage().arrayBuffers - before} bytes`);
});
