import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuListCovered, parseCpuList } from './cpuset';

const lists: { text: string; want: [number, number][] | undefined }[] = [
  { text: '0', want: [[0, 0]] },
  { text: '0-3,7', want: [[0, 3], [7, 7]] },
  { text: '1,3-4', want: [[1, 1], [3, 4]] },
  { text: '', want: undefined },
  { text: 'abc', want: undefined },
  { text: '3-1', want: undefined },
  { text: '0,,1', want: undefined },
  { text: '0-', want: undefined },
  { text: ' 0', want: undefined },
  { text: '99999999999999999999', want: undefined },
];
for (const c of lists) test(`parseCpuList ${JSON.stringify(c.text)}`, () => assert.deepEqual(parseCpuList(c.text), c.want));

test('cpuListCovered: every CPU asked for is online', () => {
  assert.equal(cpuListCovered([[0, 1]], [[0, 1]]), true);
  assert.equal(cpuListCovered([[0, 3]], [[2, 3], [0, 1]]), true);
  assert.equal(cpuListCovered([[0, 4095]], [[0, 1]]), false);
  assert.equal(cpuListCovered([[1, 1], [5, 5]], [[0, 3]]), false);
  assert.equal(cpuListCovered([[0, 0]], []), false);
});
