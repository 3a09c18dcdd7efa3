import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QUOTE_MAX_CHARS, quote, truncateText } from './quote';

test('quote: short values JSON-quoted whole, control characters escaped', () => {
  assert.equal(quote('busybox'), '"busybox"');
  assert.equal(quote('a\0b\n'), '"a\\u0000b\\n"');
  assert.equal(quote('x'.repeat(QUOTE_MAX_CHARS)), JSON.stringify('x'.repeat(QUOTE_MAX_CHARS)));
});

test('quote: long values cut to a prefix with their length in bytes', () => {
  const q = quote('h'.repeat(1024 * 1024));
  assert.equal(q, `"${'h'.repeat(QUOTE_MAX_CHARS)}…" (1048576 bytes)`);
  assert.match(quote('é'.repeat(100)), /\(200 bytes\)$/);
});

test('truncateText: cut with what was dropped', () => {
  assert.equal(truncateText('abc', 5), 'abc');
  assert.equal(truncateText('abcdefgh', 3), 'abc… (5 more characters)');
});
