import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { InternalError } from '../errors';
import { moveToTransientScope } from './systemd-scope';

/** Fake busctl scripts stand in for systemd, which this test cannot assume. */
const dir = mkdtempSync(path.join(tmpdir(), 'crio-ts-systemd-scope-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function fakeBusctl(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A PID that has certainly exited (a child we waited for). */
function exitedPid(): number {
  const r = spawnSync('/bin/sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

const argsFile = path.join(dir, 'args');
const ok = fakeBusctl('ok', `printf '%s\\n' "$@" > ${argsFile}; echo 'o "/org/freedesktop/systemd1/job/1"'`);
const refused = fakeBusctl('refused', "echo 'Call failed: Unit crio-conmon-c1.scope already exists.' >&2; exit 1");
const silent = fakeBusctl('silent', 'exit 3');

const cases: { name: string; busctl: string; pid: () => number; abort?: boolean; timeoutMs?: number; error: RegExp | ((err: unknown) => boolean) }[] = [
  {
    name: 'systemd refuses: its message',
    busctl: refused,
    pid: () => process.pid,
    error: /^cannot create systemd scope crio-conmon-c1\.scope in kubepods\.slice for pid \d+: Call failed: Unit crio-conmon-c1\.scope already exists\.$/,
  },
  { name: 'busctl fails silently: its exit code', busctl: silent, pid: () => process.pid, error: /busctl exited with 3$/ },
  { name: 'process gone before the job ran', busctl: ok, pid: exitedPid, error: /^pid \d+ exited before systemd put it into crio-conmon-c1\.scope$/ },
  // Our own process never lands in the scope; the wait must give up rather than hang.
  { name: 'job never moves the process', busctl: ok, pid: () => process.pid, timeoutMs: 0, error: /^systemd did not move pid \d+ into crio-conmon-c1\.scope within 0 ms$/ },
  { name: 'cancelled', busctl: ok, pid: () => process.pid, abort: true, error: (err) => err instanceof Error && err.message === 'client gone' },
];
for (const c of cases) {
  test(`moveToTransientScope: ${c.name}`, async () => {
    const ac = new AbortController();
    if (c.abort) ac.abort(new Error('client gone'));
    const run = moveToTransientScope({ pid: c.pid(), unit: 'crio-conmon-c1.scope', slice: 'kubepods.slice', busctlPath: c.busctl, signal: ac.signal, timeoutMs: c.timeoutMs ?? 60_000 });
    await assert.rejects(run, (err: unknown) => {
      if (typeof c.error === 'function') return c.error(err);
      assert.ok(err instanceof InternalError, String(err));
      assert.match(err.message, c.error);
      return true;
    });
  });
}

test('moveToTransientScope hands busctl the StartTransientUnit call', async () => {
  await assert.rejects(
    moveToTransientScope({ pid: process.pid, unit: 'crio-conmon-c1.scope', slice: 'kubepods.slice', after: 'crio.service', busctlPath: ok, signal: new AbortController().signal, timeoutMs: 0 }),
    /did not move/,
  );
  const argv = readFileSync(argsFile, 'utf8').trimEnd().split('\n');
  assert.deepEqual(argv.slice(0, 10), ['--system', 'call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'StartTransientUnit', 'ssa(sv)a(sa(sv))', 'crio-conmon-c1.scope', 'replace', '7']);
  assert.deepEqual(argv.slice(10, 14), ['PIDs', 'au', '1', String(process.pid)]);
});
