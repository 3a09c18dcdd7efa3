import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { ContainerEventType, type ContainerEventResponse, GetEventsRequest } from '../../lib/cri/gen/api';
import * as api from '../../lib/cri/gen/api';
import { startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * Stats, metrics, the Stream* list RPCs and GetContainerEvents: container CPU (and its rate on
 * the second sample), memory and writable layer; pod CPU, memory, processes and network counters
 * read inside the pod's network namespace; cAdvisor-style metrics; chunked streams matching the
 * unary lists; lifecycle events for containers and pods.
 */

let fx: ContainerFixture;

before(async () => {
  fx = await startContainerFixture({ netIndex: 146 });
});

after(async () => {
  await fx?.cleanup();
});

/** Reads a whole server stream. */
function collect<T>(stream: ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

test('container and pod stats, metrics, and the Stream* lists', async () => {
  const { podSandboxId, config } = await fx.runPod('stats');
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'c' },
    // CPU work, a 2 MiB file in the writable layer, some network traffic (a refused TCP connect), then idle.
    command: [
      'sh',
      '-c',
      `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; dd if=/dev/zero of=/tmp/blob bs=1M count=2; wget -T 2 -q http://${fx.daemon.subnet.replace(/0\/24$/, '1')}:9/ ; echo ready; sleep 3600; echo`,
    ],
    labels: { app: 'stats' },
  });
  const logPath = (await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status?.logPath ?? '';
  await waitFor('the work to finish', async () => (/stdout F ready/.test(readFileSync(logPath, 'utf8')) ? true : undefined));
  const rt = fx.daemon.cri.runtime;

  const first = await rt.listContainerStats({ filter: { labelSelector: { app: 'stats' } } });
  assert.deepEqual(
    first.stats.map((s) => s.attributes?.id),
    [id],
  );
  const s = first.stats[0];
  assert.ok((s?.cpu?.usageCoreNanoSeconds?.value ?? 0n) > 0n);
  assert.ok((s?.memory?.workingSetBytes?.value ?? 0n) > 0n);
  assert.ok((s?.memory?.usageBytes?.value ?? 0n) > 0n);
  assert.ok((s?.writableLayer?.usedBytes?.value ?? 0n) >= 2n << 20n, 'the 2 MiB file counts');
  const second = await rt.containerStats({ containerId: id });
  assert.notEqual(second.stats?.cpu?.usageNanoCores, undefined, 'a rate once there are two samples');

  const pod = (await rt.podSandboxStats({ podSandboxId })).stats;
  assert.equal(pod?.attributes?.id, podSandboxId);
  assert.ok((pod?.linux?.cpu?.usageCoreNanoSeconds?.value ?? 0n) > 0n);
  assert.ok((pod?.linux?.memory?.workingSetBytes?.value ?? 0n) > 0n);
  assert.ok((pod?.linux?.process?.processCount?.value ?? 0n) >= 1n);
  assert.equal(pod?.linux?.network?.defaultInterface?.name, 'eth0');
  assert.ok((pod?.linux?.network?.defaultInterface?.txBytes?.value ?? 0n) > 0n);
  assert.deepEqual(
    pod?.linux?.containers.map((c) => c.attributes?.id),
    [id],
  );
  assert.deepEqual(
    (await rt.listPodSandboxStats({ filter: { labelSelector: { app: 'stats' } } })).stats.map((p) => p.attributes?.id),
    [podSandboxId],
  );

  const names = (await rt.listMetricDescriptors({})).descriptors.map((d) => d.name);
  assert.ok(names.includes('container_memory_working_set_bytes') && names.includes('container_network_receive_bytes_total'));
  const metrics = (await rt.listPodSandboxMetrics({})).podMetrics.find((m) => m.podSandboxId === podSandboxId);
  const usage = metrics?.containerMetrics.find((c) => c.containerId === id)?.metrics.find((m) => m.name === 'container_memory_usage_bytes');
  assert.ok((usage?.value?.value ?? 0n) > 0n);
  assert.deepEqual(usage?.labelValues, [id, 'busybox', 'default', 'stats', 'c']);
  assert.ok(metrics?.metrics.some((m) => m.name === 'container_network_transmit_bytes_total' && m.labelValues.at(-1) === 'eth0'));

  const raw = fx.rawRuntime();
  const streamed = await collect(raw.streamContainers(api.StreamContainersRequest.fromPartial({ filter: { podSandboxId } })));
  assert.deepEqual(
    streamed.flatMap((m) => m.containers.map((c) => c.id)),
    [id],
  );
  const pods = await collect(raw.streamPodSandboxes(api.StreamPodSandboxesRequest.fromPartial({})));
  assert.ok(pods.flatMap((m) => m.podSandboxes.map((p) => p.id)).includes(podSandboxId));
  const cstats = await collect(raw.streamContainerStats(api.StreamContainerStatsRequest.fromPartial({ filter: { id } })));
  assert.deepEqual(
    cstats.flatMap((m) => m.containerStats.map((c) => c.attributes?.id)),
    [id],
  );
  const pstats = await collect(raw.streamPodSandboxStats(api.StreamPodSandboxStatsRequest.fromPartial({ filter: { id: podSandboxId } })));
  assert.deepEqual(
    pstats.flatMap((m) => m.podSandboxStats.map((p) => p.attributes?.id)),
    [podSandboxId],
  );
  const pmetrics = await collect(raw.streamPodSandboxMetrics(api.StreamPodSandboxMetricsRequest.fromPartial({})));
  assert.ok(pmetrics.flatMap((m) => m.podSandboxMetrics.map((p) => p.podSandboxId)).includes(podSandboxId));
});

test('GetContainerEvents streams container and pod lifecycle events', async () => {
  const stream = fx.rawRuntime().getContainerEvents(GetEventsRequest.fromPartial({}));
  const events: ContainerEventResponse[] = [];
  stream.on('data', (e: ContainerEventResponse) => events.push(e));
  stream.on('error', () => undefined); // cancelled below
  // The subscription is in place once a first event arrives; a throw-away pod provides one.
  await waitFor('the stream to be live', async () => {
    const { podSandboxId } = await fx.runPod(`probe-${Date.now()}`);
    await fx.daemon.cri.runtime.removePodSandbox({ podSandboxId });
    return events.length > 0 ? true : undefined;
  });
  events.length = 0;

  const { podSandboxId, config } = await fx.runPod('events');
  const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['sleep', '3600'] });
  await fx.daemon.cri.runtime.stopContainer({ containerId: id, timeout: 0n });
  await fx.daemon.cri.runtime.removeContainer({ containerId: id });
  await fx.daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await fx.daemon.cri.runtime.removePodSandbox({ podSandboxId });
  const T = ContainerEventType;
  const want = [
    [podSandboxId, T.CONTAINER_CREATED_EVENT],
    [podSandboxId, T.CONTAINER_STARTED_EVENT],
    [id, T.CONTAINER_CREATED_EVENT],
    [id, T.CONTAINER_STARTED_EVENT],
    [id, T.CONTAINER_STOPPED_EVENT],
    [id, T.CONTAINER_DELETED_EVENT],
    [podSandboxId, T.CONTAINER_STOPPED_EVENT],
    [podSandboxId, T.CONTAINER_DELETED_EVENT],
  ];
  await waitFor('all events', async () => (events.length >= want.length ? true : undefined));
  stream.cancel();
  assert.deepEqual(
    events.map((e) => [e.containerId, e.containerEventType]),
    want,
  );
  const started = events[3];
  assert.equal(started?.podSandboxStatus?.id, podSandboxId);
  assert.deepEqual(
    started?.containersStatuses.map((c) => c.id),
    [id],
  );
  assert.ok((started?.createdAt ?? 0n) > 0n);
});
