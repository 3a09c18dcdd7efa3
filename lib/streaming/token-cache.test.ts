import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResourceExhaustedError } from '../errors';
import { TokenCache } from './token-cache';

interface Case {
  name: string;
  /** Steps: insert a value, consume the n-th token, or move the clock. */
  steps: Array<{ insert: string } | { consume: number; expect: string | undefined } | { advanceMs: number }>;
  maxInFlight?: number;
}

const cases: Case[] = [
  { name: 'a token gives its value once', steps: [{ insert: 'a' }, { consume: 0, expect: 'a' }, { consume: 0, expect: undefined }] },
  { name: 'tokens are independent', steps: [{ insert: 'a' }, { insert: 'b' }, { consume: 1, expect: 'b' }, { consume: 0, expect: 'a' }] },
  { name: 'a token just before its TTL still works', steps: [{ insert: 'a' }, { advanceMs: 59_999 }, { consume: 0, expect: 'a' }] },
  { name: 'a token at its TTL has expired', steps: [{ insert: 'a' }, { advanceMs: 60_000 }, { consume: 0, expect: undefined }] },
  { name: 'expired tokens free their slot', maxInFlight: 1, steps: [{ insert: 'a' }, { advanceMs: 60_000 }, { insert: 'b' }, { consume: 1, expect: 'b' }] },
];

for (const c of cases) {
  test(c.name, () => {
    let now = 1_000;
    const cache = new TokenCache<string>({ now: () => now, maxInFlight: c.maxInFlight });
    const tokens: string[] = [];
    for (const step of c.steps) {
      if ('insert' in step) tokens.push(cache.insert(step.insert));
      else if ('advanceMs' in step) now += step.advanceMs;
      else assert.equal(cache.consume(tokens[step.consume] ?? ''), step.expect);
    }
  });
}

test('tokens are long, URL-safe and distinct', () => {
  const cache = new TokenCache<number>();
  const a = cache.insert(1);
  const b = cache.insert(2);
  assert.match(a, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(a, b);
});

test('too many outstanding tokens are refused', () => {
  const cache = new TokenCache<number>({ maxInFlight: 2 });
  cache.insert(1);
  cache.insert(2);
  assert.throws(() => cache.insert(3), ResourceExhaustedError);
});
