import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { trimMalloc } from './malloc-trim';

test('npm run build builds the malloc_trim addon next to build/lib', () => {
  assert.ok(existsSync(path.join(__dirname, '..', 'native', 'malloc-trim.node')));
});

test('trimMalloc: the addon loads and runs malloc_trim (true or false: whether pages were released)', () => {
  assert.equal(typeof trimMalloc(), 'boolean');
});
