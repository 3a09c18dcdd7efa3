import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DiskUsage } from './disk-usage';
import { UsageCache } from './usage-cache';

/** A cache over a fake clock and a measuring function that counts its calls. */
function setup(maxAgeMs = 10_000) {
  let now = 0;
  const calls: string[] = [];
  let running = 0;
  let maxRunning = 0;
  let size = 1;
  const cache = new UsageCache({
    maxAgeMs,
    now: () => now,
    compute: async (key): Promise<DiskUsage> => {
      calls.push(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setImmediate(r));
      running--;
      return { bytes: size, inodes: 1 };
    },
  });
  return {
    cache,
    calls,
    maxRunning: () => maxRunning,
    tick: (ms: number) => (now += ms),
    grow: (n: number) => (size = n),
  };
}

const cases: { name: string; run: (s: ReturnType<typeof setup>) => Promise<void> }[] = [
  {
    name: 'first request measures, later ones within maxAge do not',
    run: async (s) => {
      assert.deepEqual(await s.cache.get('a'), { bytes: 1, inodes: 1 });
      s.tick(5_000);
      await s.cache.get('a');
      assert.deepEqual(s.calls, ['a']);
    },
  },
  {
    name: 'a stale value is served at once while one refresh runs',
    run: async (s) => {
      await s.cache.get('a');
      s.grow(7);
      s.tick(10_001);
      assert.equal((await s.cache.get('a')).bytes, 1, 'stale value served');
      assert.equal((await s.cache.get('a')).bytes, 1, 'still stale, no second refresh started');
      await new Promise((r) => setTimeout(r, 5));
      assert.equal((await s.cache.get('a')).bytes, 7, 'refreshed value');
      assert.deepEqual(s.calls, ['a', 'a']);
    },
  },
  {
    name: 'a hundred keys are measured one at a time',
    run: async (s) => {
      const keys = Array.from({ length: 100 }, (_, i) => `c${i}`);
      await Promise.all(keys.map((k) => s.cache.get(k)));
      assert.equal(s.calls.length, 100);
      assert.equal(s.maxRunning(), 1);
      await Promise.all(keys.map((k) => s.cache.get(k)));
      assert.equal(s.calls.length, 100, 'the next poll is served from the cache');
    },
  },
  {
    name: 'concurrent first requests share one measurement',
    run: async (s) => {
      await Promise.all([s.cache.get('a'), s.cache.get('a'), s.cache.get('a')]);
      assert.deepEqual(s.calls, ['a']);
    },
  },
  {
    name: 'forget drops the value and a walk in flight does not bring it back',
    run: async (s) => {
      const p = s.cache.get('a');
      s.cache.forget('a');
      await p;
      s.tick(1);
      await s.cache.get('a');
      assert.deepEqual(s.calls, ['a', 'a']);
    },
  },
];

for (const c of cases) test(`UsageCache: ${c.name}`, () => c.run(setup()));
