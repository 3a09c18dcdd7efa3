import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAP_GROWTH_BYTES, HeapGrowth, startMemoryUpkeep } from './memory-upkeep';

const MiB = 1 << 20;

test('HeapGrowth: collects after growth from the lowest size seen, not again until the heap grows again', () => {
  const g = new HeapGrowth(10 * MiB);
  const steps: [number, boolean][] = [
    [10 * MiB + HEAP_GROWTH_BYTES - 1, false],
    [9 * MiB, false], // V8 shrank the heap itself: the mark follows
    [9 * MiB + HEAP_GROWTH_BYTES, true],
  ];
  for (const [size, want] of steps) assert.equal(g.grown(size), want, `at ${size}`);
  g.collected(12 * MiB); // pages freed by the collection are released later
  assert.equal(g.grown(11 * MiB), false);
  assert.equal(g.grown(11 * MiB + HEAP_GROWTH_BYTES - 1), false);
  assert.equal(g.grown(11 * MiB + HEAP_GROWTH_BYTES), true);
});

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('startMemoryUpkeep: two collections after the heap grew, none while it stays', async () => {
  let size = 10 * MiB;
  let collections = 0;
  const stop = startMemoryUpkeep(10, () => collections++, () => size);
  try {
    size += HEAP_GROWTH_BYTES;
    await until(() => collections === 2, 'two collections');
    const after = collections;
    // Several more ticks at the same size: nothing more to collect.
    const ticks = Date.now() + 100;
    await until(() => Date.now() > ticks, 'ticks');
    assert.equal(collections, after);
  } finally {
    stop();
  }
});

test('startMemoryUpkeep: without gc (node lacks --expose-gc) it only trims, and stops', () => {
  const stop = startMemoryUpkeep(10, undefined);
  stop();
});
