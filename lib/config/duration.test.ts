import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InvalidArgumentError } from '../errors';
import { parseDuration } from './duration';

const good: Array<[string, number]> = [
  ['0', 0],
  ['0s', 0],
  ['10s', 10_000],
  ['1m30s', 90_000],
  ['500ms', 500],
  ['1h', 3_600_000],
  ['1.5s', 1500],
  ['.5s', 500],
  ['2us', 0.002],
  ['1000000ns', 1],
  ['-1s', -1000],
  ['+2m', 120_000],
  ['1h2m3s4ms', 3_723_004],
];
for (const [input, ms] of good) {
  test(`parseDuration(${JSON.stringify(input)}) = ${ms}`, () => {
    assert.ok(Math.abs(parseDuration(input) - ms) < 1e-9);
  });
}

for (const input of ['', '10', 's', '1x', '1.s.s', '.s', '1 s', '-', '5sec', ' 1s']) {
  test(`parseDuration(${JSON.stringify(input)}) is rejected`, () => {
    assert.throws(
      () => parseDuration(input),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.match(err.message, /invalid duration .*expected a Go duration/);
        return true;
      },
    );
  });
}
