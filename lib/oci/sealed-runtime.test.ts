import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, promises as fs, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { errnoCode } from '../errors';
import { nullLogger } from '../log';
import { runProgram } from '../process';
import { SealedRuntime } from './sealed-runtime';

const RUNC = '/usr/sbin/runc';
const PROC_FD = new RegExp(`^/proc/${process.pid}/fd/(\\d+)$`);

/** F_GET_SEALS of a file, asked through perl (node has no fcntl). */
async function seals(file: string): Promise<number> {
  const r = await runProgram('perl', ['-e', 'open(my $f, "<", $ARGV[0]) or die; print syscall(72, fileno($f), 1034)', file]);
  assert.equal(r.exitCode, 0, r.stderr.toString());
  return Number(r.stdout.toString());
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sealed-runtime-'));
  try {
    await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function startedCopy(binary: string, retireAfterMs = 60_000): Promise<SealedRuntime> {
  const sealed = SealedRuntime.start(binary, nullLogger(), retireAfterMs);
  assert.ok(sealed, 'perl is there on Debian, and the architecture is known');
  await sealed.ready();
  return sealed;
}

test('SealedRuntime: runc runs from a memfd sealed as runc requires, which nobody can write', { skip: process.arch !== 'x64' && process.arch !== 'arm64' }, async () => {
  const sealed = await startedCopy(RUNC, 0);
  const p = sealed.path();
  assert.match(p, PROC_FD);
  const version = await runProgram(p, ['--version']);
  assert.match(version.stdout.toString(), /^runc version /);
  // runc's RUNC_MEMFD_SEALS: SEAL | SHRINK | GROW | WRITE; with exactly these its init skips its own copy.
  assert.equal(await seals(p), 15);
  const fd = openSync(p, 'r+');
  try {
    assert.throws(() => writeSync(fd, Buffer.from('x'), 0, 1, 0), (err: unknown) => errnoCode(err) === 'EPERM');
  } finally {
    closeSync(fd);
  }
  const [, own] = PROC_FD.exec(p) ?? [];
  sealed.retire();
  assert.equal(sealed.path(), RUNC);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(existsSync(`/proc/self/fd/${own ?? ''}`), false, 'the retired copy is closed');
});

test('SealedRuntime: when the binary on disk changes, calls use it at once and a new copy follows', { skip: process.arch !== 'x64' }, async () => {
  await withTempDir(async (dir) => {
    const binary = path.join(dir, 'runc');
    await fs.copyFile(RUNC, binary);
    await fs.chmod(binary, 0o755);
    const sealed = await startedCopy(binary);
    const first = sealed.path();
    assert.match(first, PROC_FD);
    const later = new Date(Date.now() + 5_000);
    await fs.utimes(binary, later, later);
    assert.equal(sealed.path(), binary, 'an upgraded runc is used by the very next call');
    await sealed.ready();
    const second = sealed.path();
    assert.match(second, PROC_FD);
    assert.match((await runProgram(second, ['--version'])).stdout.toString(), /^runc version /);
    sealed.retire();
  });
});

test('SealedRuntime: another runtime (not runc) is used from its own path', async () => {
  await withTempDir(async (dir) => {
    const crun = path.join(dir, 'crun');
    await fs.writeFile(crun, '#!/bin/sh\necho "crun version 1.8.1"\n', { mode: 0o755 });
    const sealed = await startedCopy(crun);
    assert.equal(sealed.path(), crun);
  });
});

test('SealedRuntime: without perl there is no copy', () => {
  assert.equal(SealedRuntime.start(RUNC, nullLogger(), 0, '/nonexistent/perl'), undefined);
});
