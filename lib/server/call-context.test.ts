import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogFields, Logger } from '../log';
import { withLogFields } from '../context';
import { CallContext, deadlineOf, nextRequestId } from './call-context';

function recordingLogger(children: LogFields[]): Logger {
  const l: Logger = {
    error: () => undefined,
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    child: (f) => {
      children.push(f);
      return l;
    },
  };
  return l;
}

test('request IDs are 8 hex digits and differ', () => {
  const ids = new Set(Array.from({ length: 3000 }, () => nextRequestId()));
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}$/);
  assert.ok(ids.size > 2990);
});

test('the child logger is made on first use, with rpc and reqId', () => {
  const children: LogFields[] = [];
  const ctx = new CallContext(recordingLogger(children), 'Version', Infinity);
  assert.equal(children.length, 0);
  ctx.log.info('x');
  ctx.log.info('y');
  assert.deepEqual(children, [{ rpc: 'Version', reqId: ctx.reqId }]);
});

test('cancel aborts the signal, whether it was read before or after', () => {
  const before = new CallContext(recordingLogger([]), 'X', Infinity);
  const signal = before.signal;
  assert.equal(signal.aborted, false);
  before.cancel();
  assert.equal(signal.aborted, true);
  assert.equal(before.aborted, true);

  const after = new CallContext(recordingLogger([]), 'X', Infinity);
  after.cancel();
  assert.equal(after.signal.aborted, true);
});

test('a cancel once the call is answered changes nothing (grpc-js reports every close as cancelled)', () => {
  const ctx = new CallContext(recordingLogger([]), 'X', Infinity);
  ctx.finish();
  ctx.cancel();
  assert.equal(ctx.aborted, false);
  assert.equal(ctx.signal.aborted, false);
});

test('the deadline aborts the signal; a past deadline gives an aborted signal at once', async () => {
  const ctx = new CallContext(recordingLogger([]), 'X', Date.now() + 30);
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  assert.equal(ctx.aborted, true);
  const late = new CallContext(recordingLogger([]), 'X', Date.now() - 1);
  assert.equal(late.signal.aborted, true);
  assert.equal(late.aborted, true);
});

test('withLogFields passes the same signal on without reading it early', () => {
  const ctx = new CallContext(recordingLogger([]), 'X', Infinity);
  const inner = withLogFields(ctx, { containerId: 'c' });
  ctx.cancel();
  assert.equal(inner.signal.aborted, true);
  assert.equal(inner.signal, ctx.signal);
});

test('deadlineOf: Date, number, and no deadline', () => {
  assert.equal(deadlineOf(new Date(5000)), 5000);
  assert.equal(deadlineOf(7000), 7000);
  assert.equal(deadlineOf(Infinity), Infinity);
  assert.equal(deadlineOf(0), Infinity);
});
