import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { getHeapSpaceStatistics } from 'node:v8';
import { DAEMON_V8_FLAGS } from './v8-flags';

/** The young generation's committed size in bytes. */
function newSpaceSize(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? NaN;
}

// The flags are set at run time, which V8 may ignore for some flags: this checks that the young
// generation really stays small under a burst of short-lived garbage (it grows to 32 MiB without).
const cases: { name: string; objects: number }[] = [{ name: 'a burst of short-lived objects', objects: 3_000_000 }];

for (const c of cases) {
  test(`the young generation stays at its initial size: ${c.name}`, () => {
    assert.ok(DAEMON_V8_FLAGS.includes('--semi-space-growth-factor=1'));
    const keep: unknown[] = [];
    for (let i = 0; i < c.objects; i++) {
      const o = { i, s: `x${i}` };
      if (i % 1000 === 0) keep.push(o);
    }
    assert.ok(keep.length > 0);
    assert.ok(newSpaceSize() <= 4 << 20, `new space is ${newSpaceSize()} bytes`);
  });
}

// A process that ran code once (as the daemon runs its start-up code), then made garbage until V8
// ran two full GCs (as the idle daemon's memory reducer does): its bytecode in bytes.
function bytecodeAfterTwoFullGcs(withDaemonFlags: boolean): number {
  const script = `
    ${withDaemonFlags ? `require(${JSON.stringify(path.join(__dirname, 'v8-flags.js'))});` : ''}
    const v8 = require('node:v8');
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    let full = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++; }).observe({ entryTypes: ['gc'] });
    const fns = [];
    for (let i = 0; i < 2000; i++) fns.push(new Function('a', 'let s = a; for (let j = 0; j < 3; j++) s += j * ' + i + '; return s;'));
    for (const f of fns) f(1);
    let keep = [];
    (function churn() {
      for (let k = 0; k < 20000; k++) keep.push({ k, s: 'x' + k });
      if (keep.length > 400000) keep = [];
      if (full < 2) setImmediate(churn);
      else process.stdout.write(String(v8.getHeapCodeStatistics().bytecode_and_metadata_size));
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
}

test('bytecode of code that did not run since the last full GC is dropped (--bytecode-old-age=1 at run time)', () => {
  assert.ok(DAEMON_V8_FLAGS.includes('--bytecode-old-age=1'));
  const [without, withFlags] = [bytecodeAfterTwoFullGcs(false), bytecodeAfterTwoFullGcs(true)];
  assert.ok(withFlags < without / 2, `bytecode ${without} bytes without the daemon's flags, ${withFlags} with`);
});
