import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { InternalError } from '../errors';
import { runProgram } from '../process';
import { execFifoPath, startThroughExecFifo, usesRuncExecFifo } from './exec-fifo';

test('execFifoPath', () => {
  assert.equal(execFifoPath('/run/runc', 'abc'), '/run/runc/abc/exec.fifo');
});

const versionCases: { name: string; output: string; want: boolean }[] = [
  { name: 'runc 1.1', output: 'runc version 1.1.5\ncommit: v1.1.5-0-gf19387a\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n', want: true },
  { name: 'runc 1.3', output: 'runc version 1.3.0\nspec: 1.2.1\n', want: true },
  { name: 'runc before 1.0', output: 'runc version 0.1.1\n', want: false },
  { name: 'crun (opposite FIFO protocol)', output: 'crun version 1.8.1\ncommit: f8a0962\n', want: false },
  { name: 'youki', output: 'youki version 0.3.3\n', want: false },
  { name: 'nothing (probe failed)', output: '', want: false },
];
for (const c of versionCases) test(`usesRuncExecFifo: ${c.name}`, () => assert.equal(usesRuncExecFifo(c.output), c.want));

async function withFifo(fn: (fifo: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'exec-fifo-'));
  try {
    const fifo = path.join(dir, 'exec.fifo');
    const r = await runProgram('mkfifo', ['-m', '0600', fifo]);
    assert.equal(r.exitCode, 0, r.stderr.toString());
    await fn(fifo);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('startThroughExecFifo: reads what init writes, removes the FIFO', async () => {
  await withFifo(async (fifo) => {
    // Like runc init: blocks opening the write end, writes one byte, closes it (at exec).
    const init = spawn('sh', ['-c', `printf 0 > '${fifo}'; sleep 1`], { stdio: 'ignore' });
    try {
      assert.equal(await startThroughExecFifo(fifo, { pid: init.pid ?? 0 }, 20), true);
      await assert.rejects(fs.lstat(fifo), { code: 'ENOENT' });
    } finally {
      init.kill('SIGKILL');
    }
  });
});

test('startThroughExecFifo: a dead init is an InternalError, not a hang', async () => {
  await withFifo(async (fifo) => {
    await assert.rejects(startThroughExecFifo(fifo, { pid: 2 ** 30 }, 20), (err: unknown) => err instanceof InternalError && /already dead/.test(err.message));
  });
});

test('startThroughExecFifo: no FIFO (not in state created) does nothing', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'exec-fifo-'));
  try {
    assert.equal(await startThroughExecFifo(path.join(dir, 'exec.fifo'), { pid: process.pid }), false);
    await fs.writeFile(path.join(dir, 'file'), '');
    assert.equal(await startThroughExecFifo(path.join(dir, 'file'), { pid: process.pid }), false);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
