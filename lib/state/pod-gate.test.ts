import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError } from '../errors';
import { PodGate } from './pod-gate';

test('PodGate: work runs until the stop begins, then is refused naming the pod', async () => {
  const g = new PodGate();
  assert.equal(await g.run('p1', 'CreateContainer', async () => 'made'), 'made');
  await g.beginStop('p1');
  assert.equal(g.isStopping('p1'), true);
  await assert.rejects(g.run('p1', 'CreateContainer', async () => 'late'), (err: unknown) => err instanceof FailedPreconditionError && /CreateContainer: pod sandbox p1 is being stopped/.test(err.message));
  assert.equal(await g.run('p2', 'CreateContainer', async () => 'other pod'), 'other pod');
  g.forget('p1');
  assert.equal(g.isStopping('p1'), false);
});

test('PodGate: beginStop waits for work already running in the pod (also failing work), not for other pods', async () => {
  const g = new PodGate();
  const order: string[] = [];
  let finish: () => void = () => undefined;
  const running = g.run('p1', 'CreateContainer', () => new Promise<void>((r) => (finish = r)).then(() => void order.push('create done')));
  const failing = g
    .run('p1', 'StartContainer', async () => {
      throw new Error('runc failed');
    })
    .then(
      () => 'ok',
      (err: Error) => err.message,
    );
  let never: () => void = () => undefined;
  void g.run('p2', 'CreateContainer', () => new Promise<void>((r) => (never = r)));
  const stopped = g.beginStop('p1').then(() => void order.push('stop proceeds'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, []);
  finish();
  await stopped;
  await running;
  assert.equal(await failing, 'runc failed');
  assert.deepEqual(order, ['create done', 'stop proceeds']);
  never();
});
