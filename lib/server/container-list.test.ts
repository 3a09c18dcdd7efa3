import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContainerState, ListContainersResponse } from '../cri/gen/api';
import { RECORD_VERSION, type ContainerRecord } from '../state/records';
import { encodeListContainersResponse, listContainers } from './container-list';
import type { ServerDeps } from './deps';

function record(i: number, labels: Record<string, string>): ContainerRecord {
  return {
    version: RECORD_VERSION,
    id: `${i}`.padStart(64, 'a'),
    podSandboxId: 'p'.repeat(64),
    reservedName: `k8s_c${i}`,
    metadata: { name: `c${i}`, attempt: 0 },
    labels,
    annotations: { ['a'.repeat(200)]: 'x'.repeat(300) },
    image: { requested: 'busybox', id: 'i'.repeat(64), ref: 'r' },
    state: 'running',
    createdAtNs: '1700000000000000000',
    startedAtNs: '0',
    finishedAtNs: '0',
    exitCode: 0,
    reason: '',
    message: '',
    pid: 1,
    logPath: '/l',
    bundleDir: '/b',
    rootfs: '/r',
    config: {},
  };
}

const cases: { name: string; count: number }[] = [
  { name: 'empty list', count: 0 },
  { name: 'one container', count: 1 },
  { name: 'many containers with multi-byte length prefixes', count: 300 },
];

for (const c of cases) {
  test(`cached encoding equals ts-proto's: ${c.name}`, async () => {
    const records = Array.from({ length: c.count }, (_, i) => record(i, { n: String(i) }));
    const deps = { containers: { list: () => records } } as unknown as ServerDeps;
    const res = await listContainers(deps, { log: undefined as never, signal: new AbortController().signal }, { filter: undefined });
    const want = Buffer.from(ListContainersResponse.encode(res).finish());
    assert.deepEqual(encodeListContainersResponse(res), want);
    assert.deepEqual(encodeListContainersResponse(res), want, 'and again from the cache');
    assert.equal(ListContainersResponse.decode(want).containers.length, c.count);
    if (c.count > 0) assert.equal(res.containers[0]?.state, ContainerState.CONTAINER_RUNNING);
  });
}

const changes: { name: string; change: (records: ContainerRecord[]) => ContainerRecord[] }[] = [
  { name: 'a container changed state', change: (rs) => rs.map((r, i) => (i === 1 ? { ...r, state: 'exited' } : r)) },
  { name: 'a container was added', change: (rs) => [...rs, record(99, { n: '99' })] },
  { name: 'a container was removed', change: (rs) => rs.slice(1) },
  { name: 'the order changed', change: (rs) => [...rs].reverse() },
];

for (const c of changes) {
  test(`a recent answer is not reused once ${c.name}`, async () => {
    const ctx = { log: undefined as never, signal: new AbortController().signal };
    let records = Array.from({ length: 3 }, (_, i) => record(i, { n: String(i) }));
    const deps = { containers: { list: () => records } } as unknown as ServerDeps;
    const before = encodeListContainersResponse(await listContainers(deps, ctx, { filter: undefined }));
    records = c.change(records);
    const res = await listContainers(deps, ctx, { filter: undefined });
    const after = encodeListContainersResponse(res);
    assert.deepEqual(after, Buffer.from(ListContainersResponse.encode(res).finish()));
    assert.notDeepEqual(after, before);
  });
}

test('answers to different filters are kept apart and reused', async () => {
  const ctx = { log: undefined as never, signal: new AbortController().signal };
  const records = Array.from({ length: 4 }, (_, i) => record(i, { n: String(i % 2) }));
  const deps = { containers: { list: () => records } } as unknown as ServerDeps;
  const all = encodeListContainersResponse(await listContainers(deps, ctx, { filter: undefined }));
  const some = encodeListContainersResponse(await listContainers(deps, ctx, { filter: { id: '', podSandboxId: '', state: undefined, labelSelector: { n: '1' } } }));
  assert.equal(ListContainersResponse.decode(all).containers.length, 4);
  assert.equal(ListContainersResponse.decode(some).containers.length, 2);
  assert.equal(encodeListContainersResponse(await listContainers(deps, ctx, { filter: undefined })), all, 'the same buffer again');
});
