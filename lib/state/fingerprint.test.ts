import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestFingerprint } from './fingerprint';

const cases: { name: string; a: unknown; b: unknown; same: boolean }[] = [
  { name: 'map order does not matter', a: { labels: { x: '1', y: '2' } }, b: { labels: { y: '2', x: '1' } }, same: true },
  { name: 'array order matters', a: { cmd: ['a', 'b'] }, b: { cmd: ['b', 'a'] }, same: false },
  { name: 'a changed value differs', a: { image: 'busybox' }, b: { image: 'busybox:1' }, same: false },
  { name: 'undefined fields are ignored', a: { a: 1, b: undefined }, b: { a: 1 }, same: true },
  { name: 'bigints are stable', a: { t: 10n }, b: { t: 10n }, same: true },
  { name: 'bigint vs other bigint differs', a: { t: 10n }, b: { t: 11n }, same: false },
];

for (const c of cases) {
  test(c.name, () => {
    assert.equal(requestFingerprint(c.a) === requestFingerprint(c.b), c.same);
  });
}
