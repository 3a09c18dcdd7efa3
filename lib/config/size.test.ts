import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InvalidArgumentError } from '../errors';
import { parseSize } from './size';

const good: Array<[string, number]> = [
  ['12MiB', 12 * 1024 ** 2],
  ['500KiB', 500 * 1024],
  ['500KB', 500 * 1024],
  ['1g', 1024 ** 3],
  ['1024', 1024],
  ['1024b', 1024],
  ['1.5k', 1536],
  ['2 MiB', 2 * 1024 ** 2],
  ['1TiB', 1024 ** 4],
];
for (const [input, bytes] of good) {
  test(`parseSize(${JSON.stringify(input)}) = ${bytes}`, () => assert.equal(parseSize(input), bytes));
}

for (const input of ['', 'MiB', '-1MiB', '12XiB', '12 MiB extra', '1.2.3k']) {
  test(`parseSize(${JSON.stringify(input)}) is rejected`, () => {
    assert.throws(() => parseSize(input), InvalidArgumentError);
  });
}
