import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, ResourceExhaustedError } from '../errors';
import { allocateRange, intersectRanges, parseSubIds, type IdRange } from './userns-auto';

test('parseSubIds: only the user, by name or uid; merged and sorted; junk skipped', () => {
  const text = '# comment\nalice:100000:65536\ncontainers:300000:1000\ncontainers:200000:100000\n999:301000:5\nbroken line\ncontainers:x:1\ncontainers:0:10\n';
  assert.deepEqual(parseSubIds(text, { name: 'containers', uid: 999 }), [{ start: 200000, length: 101005 }]);
  assert.deepEqual(parseSubIds(text, { name: 'nobody' }), []);
});

test('intersectRanges: ids free as uids and as gids', () => {
  assert.deepEqual(intersectRanges([{ start: 100, length: 100 }], [{ start: 150, length: 100 }]), [{ start: 150, length: 50 }]);
  assert.deepEqual(intersectRanges([{ start: 100, length: 10 }], [{ start: 200, length: 10 }]), []);
});

const avail: IdRange[] = [{ start: 100000, length: 200000 }];
const cases: { name: string; available: IdRange[]; used: IdRange[]; size: number; want: number }[] = [
  { name: 'first fit in an empty range', available: avail, used: [], size: 65536, want: 100000 },
  { name: 'after a used range', available: avail, used: [{ start: 100000, length: 65536 }], size: 65536, want: 165536 },
  { name: 'in a hole between used ranges', available: avail, used: [{ start: 100000, length: 1000 }, { start: 5000 + 100000, length: 1000 }], size: 4000, want: 101000 },
  { name: 'hole too small: after both', available: avail, used: [{ start: 100000, length: 1000 }, { start: 104000, length: 1000 }], size: 4000, want: 105000 },
  { name: 'second available range', available: [{ start: 1000, length: 100 }, { start: 50000, length: 70000 }], used: [], size: 65536, want: 50000 },
  { name: 'overlapping used ranges', available: avail, used: [{ start: 100000, length: 500 }, { start: 100200, length: 500 }], size: 10, want: 100700 },
];
for (const c of cases) test(`allocateRange: ${c.name}`, () => assert.equal(allocateRange(c.available, c.used, c.size), c.want));

test('allocateRange: no subordinate ids at all is a precondition, all taken is exhaustion', () => {
  assert.throws(() => allocateRange([], [], 1024), (e: unknown) => e instanceof FailedPreconditionError && /containers:100000/.test((e as Error).message));
  assert.throws(() => allocateRange(avail, [{ start: 100000, length: 150000 }], 65536), ResourceExhaustedError);
});
