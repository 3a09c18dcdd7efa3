import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContainerEventType, type ContainerEventResponse } from '../cri/gen/api';
import { nullLogger } from '../log';
import { NO_METRICS } from '../metrics/recorder';
import { ContainerEventBus, getContainerEvents, MAX_PENDING_EVENTS } from './container-events';
import type { ServerDeps } from './deps';

function event(i: number): ContainerEventResponse {
  return { containerId: `c${i}`, containerEventType: ContainerEventType.CONTAINER_CREATED_EVENT, createdAt: 0n, podSandboxStatus: undefined, containersStatuses: [] };
}

test('a stream that stops reading gets at most MAX_PENDING_EVENTS queued; the rest are dropped and counted', async () => {
  let dropped = 0;
  const deps = { events: new ContainerEventBus(), metrics: { ...NO_METRICS, containerEventDropped: () => void dropped++ } } as unknown as ServerDeps;
  const abort = new AbortController();
  const sent: string[] = [];
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  // The client reads the first event, then stalls.
  const send = async (e: ContainerEventResponse): Promise<void> => {
    sent.push(e.containerId);
    if (sent.length === 1) await blocked;
  };
  const stream = getContainerEvents(deps, { log: nullLogger(), signal: abort.signal }, {}, send);
  const total = MAX_PENDING_EVENTS + 5;
  for (let i = 0; i < total; i++) deps.events.publish(event(i));
  assert.equal(dropped, 5);
  release();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(sent.length, MAX_PENDING_EVENTS, 'everything queued is delivered, in order');
  assert.equal(sent.at(-1), `c${MAX_PENDING_EVENTS - 1}`);
  // Once drained, new events flow again.
  deps.events.publish(event(9999));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(sent.at(-1), 'c9999');
  abort.abort();
  await stream;
});
