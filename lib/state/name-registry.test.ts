import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlreadyExistsError, DeadlineExceededError } from '../errors';
import { NameRegistry } from './name-registry';

function ids(): () => string {
  let n = 0;
  return () => `id${++n}`;
}

const never = new AbortController().signal;

test('reserve refuses a name held by another ID and accepts its owner again', () => {
  const r = new NameRegistry('container');
  r.reserve('a', '1');
  r.reserve('a', '1');
  assert.throws(() => r.reserve('a', '2'), AlreadyExistsError);
  r.release('a', '2'); // not the owner: no effect
  assert.equal(r.owner('a'), '1');
  r.release('a', '1');
  assert.equal(r.owner('a'), undefined);
});

const claimCases: { name: string; run: (r: NameRegistry) => Promise<void> }[] = [
  {
    name: 'an identical retry gets the same ID',
    run: async (r) => {
      const newId = ids();
      const first = await r.claim({ name: 'n', fingerprint: 'f', signal: never, newId, rpc: 'Create' }, async () => undefined);
      const again = await r.claim({ name: 'n', fingerprint: 'f', signal: never, newId, rpc: 'Create' }, async () => assert.fail('work ran twice'));
      assert.equal(again, first);
    },
  },
  {
    name: 'a changed request gets AlreadyExists naming the holder',
    run: async (r) => {
      const newId = ids();
      const first = await r.claim({ name: 'n', fingerprint: 'f', signal: never, newId, rpc: 'Create' }, async () => undefined);
      await assert.rejects(
        r.claim({ name: 'n', fingerprint: 'g', signal: never, newId, rpc: 'Create' }, async () => undefined),
        (err: unknown) => err instanceof AlreadyExistsError && err.message.includes(first) && /different settings/.test(err.message),
      );
    },
  },
  {
    name: 'a timed-out caller gets DeadlineExceeded while the work finishes for the retry',
    run: async (r) => {
      const newId = ids();
      let finish: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (finish = resolve));
      const abort = new AbortController();
      const first = r.claim({ name: 'n', fingerprint: 'f', signal: abort.signal, newId, rpc: 'Create' }, () => gate);
      abort.abort();
      await assert.rejects(first, DeadlineExceededError);
      const retry = r.claim({ name: 'n', fingerprint: 'f', signal: never, newId, rpc: 'Create' }, async () => assert.fail('work ran twice'));
      finish();
      assert.equal(await retry, 'id1');
    },
  },
  {
    name: 'a failed create frees the name',
    run: async (r) => {
      const newId = ids();
      await assert.rejects(
        r.claim({ name: 'n', fingerprint: 'f', signal: never, newId, rpc: 'Create' }, async () => Promise.reject(new Error('boom'))),
        /boom/,
      );
      assert.equal(r.owner('n'), undefined);
      assert.equal(await r.claim({ name: 'n', fingerprint: 'f', signal: never, newId, rpc: 'Create' }, async () => undefined), 'id2');
    },
  },
  {
    name: 'a name restored without a fingerprint refuses any claim',
    run: async (r) => {
      r.reserve('n', 'old');
      await assert.rejects(
        r.claim({ name: 'n', fingerprint: 'f', signal: never, newId: ids(), rpc: 'Create' }, async () => undefined),
        AlreadyExistsError,
      );
    },
  },
];

for (const c of claimCases) test(c.name, () => c.run(new NameRegistry('container')));
