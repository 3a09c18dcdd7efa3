import assert from 'node:assert/strict';
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
