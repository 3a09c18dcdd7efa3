import assert from 'node:assert/strict';
import { test } from 'node:test';
import { perRecordVersion } from './per-version';

test('perRecordVersion: made once per record object, again for a new version', () => {
  let calls = 0;
  const status = perRecordVersion((r: { state: string }) => ({ state: r.state.toUpperCase(), n: ++calls }));
  const v1 = { state: 'running' };
  const a = status(v1);
  assert.equal(status(v1), a);
  const v2 = { ...v1, state: 'exited' };
  assert.deepEqual(status(v2), { state: 'EXITED', n: 2 });
  assert.equal(calls, 2);
});
