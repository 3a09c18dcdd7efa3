import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUlimits } from './rlimits';
import { serializeSpec } from './spec-json';

const cases: { name: string; input: string[]; want: { type: string; soft: number; hard: number }[] }[] = [
  { name: 'soft and hard', input: ['nofile=1024:2048'], want: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }] },
  { name: 'one value sets both', input: ['nproc=50'], want: [{ type: 'RLIMIT_NPROC', soft: 50, hard: 50 }] },
  { name: 'later entry wins', input: ['core=1', 'core=2:3'], want: [{ type: 'RLIMIT_CORE', soft: 2, hard: 3 }] },
  { name: 'unlimited', input: ['memlock=-1:-1'], want: [{ type: 'RLIMIT_MEMLOCK', soft: -1, hard: -1 }] },
];

for (const c of cases) test(c.name, () => assert.deepEqual(parseUlimits(c.input), c.want));

test('serializeSpec writes RLIM_INFINITY exactly', () => {
  const text = serializeSpec({
    ociVersion: '1.0.2',
    process: { cwd: '/', rlimits: [{ type: 'RLIMIT_MEMLOCK', soft: -1, hard: 8 }], user: { uid: 0, gid: 0 } },
  });
  assert.match(text, /"soft":18446744073709551615,"hard":8/);
});
