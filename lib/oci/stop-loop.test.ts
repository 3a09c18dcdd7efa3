import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nullLogger } from '../log';
import { type StopDriver, StopOperation } from './stop-loop';

const FAST = { pollMs: 1, initialBackoffMs: 1, maxBackoffMs: 4 };
/**
 * A grace period long enough that the stop signal is always sent before it ends, even when a
 * loaded machine delays the loop's first step by many milliseconds.
 */
const GRACE_MS = 250;

/** A fake container: `exitOn` decides which call makes it exit. */
function fakeContainer(exitOn: 'already' | 'stop-signal' | 'kill' | 'third-kill', failSignals = false): { driver: StopDriver; calls: string[] } {
  const calls: string[] = [];
  let gone = exitOn === 'already';
  let kills = 0;
  const driver: StopDriver = {
    sendStopSignal: async () => {
      calls.push('stop');
      if (failSignals) throw new Error('runc broke');
      if (exitOn === 'stop-signal') gone = true;
    },
    kill: async () => {
      calls.push('kill');
      kills++;
      if (failSignals && kills < 3) throw new Error('runc broke');
      if (exitOn === 'kill' || (exitOn === 'third-kill' && kills === 3)) gone = true;
    },
    isGone: async () => gone,
  };
  return { driver, calls };
}

const cases: { name: string; exitOn: Parameters<typeof fakeContainer>[0]; timeoutMs: number; failSignals?: boolean; want: string[] }[] = [
  { name: 'already stopped: nothing is sent', exitOn: 'already', timeoutMs: 1000, want: [] },
  { name: 'exits on the stop signal: no SIGKILL', exitOn: 'stop-signal', timeoutMs: 60_000, want: ['stop'] },
  { name: 'ignores the stop signal: SIGKILL after the timeout', exitOn: 'kill', timeoutMs: GRACE_MS, want: ['stop', 'kill'] },
  { name: 'timeout 0: straight to SIGKILL', exitOn: 'kill', timeoutMs: 0, want: ['kill'] },
  { name: 'SIGKILL retried until gone', exitOn: 'third-kill', timeoutMs: 0, want: ['kill', 'kill', 'kill'] },
  { name: 'failing signals do not stop the loop', exitOn: 'third-kill', timeoutMs: GRACE_MS, failSignals: true, want: ['stop', 'kill', 'kill', 'kill'] },
];
for (const c of cases) {
  test(`StopOperation: ${c.name}`, async () => {
    const { driver, calls } = fakeContainer(c.exitOn, c.failSignals);
    await new StopOperation(driver, c.timeoutMs, nullLogger(), FAST).done;
    assert.deepEqual(calls, c.want);
  });
}

test('StopOperation: a shorter timeout from a second caller ends the wait', async () => {
  const { driver, calls } = fakeContainer('kill');
  const op = new StopOperation(driver, 3_600_000, nullLogger(), { ...FAST, pollMs: 3_600_000 });
  await new Promise((r) => setImmediate(r));
  op.shorten(0);
  await op.done; // would hang for an hour without shorten()
  assert.deepEqual(calls, ['stop', 'kill']);
});

test('StopOperation: a longer timeout never extends the wait', async () => {
  const { driver, calls } = fakeContainer('kill');
  const op = new StopOperation(driver, GRACE_MS, nullLogger(), FAST);
  op.shorten(3_600_000);
  await op.done;
  assert.deepEqual(calls, ['stop', 'kill']);
});

test('StopOperation: poke() (the exit file appeared) ends a grace-period poll and a SIGKILL backoff at once', async () => {
  const HOUR = 3_600_000;
  const slow = { pollMs: HOUR, initialBackoffMs: HOUR, maxBackoffMs: HOUR };
  // Exits on the stop signal, but the loop would only look again after an hour.
  const graceful = fakeContainer('stop-signal');
  const op = new StopOperation(graceful.driver, HOUR, nullLogger(), slow);
  while (!graceful.calls.includes('stop')) await new Promise((r) => setImmediate(r));
  op.poke();
  await op.done;
  assert.deepEqual(graceful.calls, ['stop']);
  // Killed, then an hour's backoff before the next look.
  const killed = fakeContainer('kill');
  const op2 = new StopOperation(killed.driver, 0, nullLogger(), slow);
  while (!killed.calls.includes('kill')) await new Promise((r) => setImmediate(r));
  op2.poke();
  await op2.done;
  assert.deepEqual(killed.calls, ['kill']);
});

test('StopOperation: a poke between two looks is not lost', async () => {
  const HOUR = 3_600_000;
  const { driver, calls } = fakeContainer('kill');
  let op: StopOperation | undefined;
  // The exit file appears while `runc kill` still runs, before the loop starts its backoff.
  const announcing: StopDriver = {
    ...driver,
    kill: async () => {
      await driver.kill();
      op?.poke();
    },
  };
  op = new StopOperation(announcing, 0, nullLogger(), { pollMs: HOUR, initialBackoffMs: HOUR, maxBackoffMs: HOUR });
  await op.done; // would wait an hour if the poke were lost
  assert.deepEqual(calls, ['kill']);
});
