import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Slots } from './limiter';

/** Whether `p` has settled after pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

const cases: { name: string; run: () => Promise<void> }[] = [
  {
    name: 'hands out n slots, then the next waits for a release, in call order',
    run: async () => {
      const slots = new Slots(2);
      const a = await slots.acquire();
      await slots.acquire();
      const third = slots.acquire();
      const fourth = slots.acquire();
      assert.equal(await settled(third), false);
      a();
      assert.equal(await settled(third), true);
      assert.equal(await settled(fourth), false);
    },
  },
  {
    name: 'releasing twice frees one slot only',
    run: async () => {
      const slots = new Slots(1);
      const a = await slots.acquire();
      a();
      a();
      await slots.acquire();
      assert.equal(await settled(slots.acquire()), false);
    },
  },
  {
    name: 'an aborted wait rejects with the reason and takes no slot',
    run: async () => {
      const slots = new Slots(1);
      const a = await slots.acquire();
      const ac = new AbortController();
      const waiting = slots.acquire(ac.signal);
      const after = slots.acquire();
      ac.abort(new Error('pull failed'));
      await assert.rejects(waiting, /pull failed/);
      a();
      assert.equal(await settled(after), true);
    },
  },
  {
    name: 'an already aborted signal rejects at once',
    run: async () => {
      const ac = new AbortController();
      ac.abort(new Error('gone'));
      await assert.rejects(new Slots(3).acquire(ac.signal), /gone/);
    },
  },
];

for (const c of cases) test(c.name, c.run);
