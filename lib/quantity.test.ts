import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuantity } from './quantity';

const cases: [string, number | RegExp][] = [
  ['100', 100],
  ['10M', 10_000_000],
  ['1.5k', 1500],
  ['64Mi', 64 * 1024 * 1024],
  ['1Gi', 1024 ** 3],
  ['10MB', /not a quantity/],
  ['-1', /not a quantity/],
  ['', /not a quantity/],
];
for (const [text, want] of cases) {
  test(`parseQuantity ${JSON.stringify(text)}`, () => {
    if (want instanceof RegExp) assert.throws(() => parseQuantity(text, 'x'), want);
    else assert.equal(parseQuantity(text, 'x'), want);
  });
}
