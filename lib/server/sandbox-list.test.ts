import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ListPodSandboxResponse, PodSandboxState } from '../cri/gen/api';
import { RECORD_VERSION, type SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';
import { encodeListPodSandboxResponse, listPodSandbox } from './sandbox-list';
import { toCriPodSandboxStatus } from './sandbox-convert';

function record(i: number, labels: Record<string, string>): SandboxRecord {
  return {
    version: RECORD_VERSION,
    id: `${i}`.padStart(64, 'b'),
    reservedName: `k8s_POD_p${i}`,
    metadata: { name: `p${i}`, uid: `u${i}`, namespace: 'ns', attempt: 0 },
    labels,
    annotations: { ['a'.repeat(200)]: 'x'.repeat(300) },
    state: 'ready',
    createdAtNs: '1700000000000000000',
    runtimeHandler: '',
    hostname: `p${i}`,
    logDirectory: '/l',
    namespaces: {},
    hostNetwork: true,
    ips: ['10.0.0.1', 'fd00::1'],
    cgroupParent: '',
    podDir: '/p',
    podFiles: { hostsPath: '/h', resolvPath: '/r', hostnamePath: '/n' },
    networkReady: true,
    config: { linux: { securityContext: { namespaceOptions: { network: 'NODE' } } } },
  };
}

const ctx = { log: undefined as never, signal: new AbortController().signal };

for (const count of [0, 1, 300]) {
  test(`cached ListPodSandbox encoding equals ts-proto's: ${count} pods`, async () => {
    const records = Array.from({ length: count }, (_, i) => record(i, { n: String(i) }));
    const deps = { sandboxes: { list: () => records } } as unknown as ServerDeps;
    const res = await listPodSandbox(deps, ctx, { filter: undefined });
    const want = Buffer.from(ListPodSandboxResponse.encode(res).finish());
    assert.deepEqual(encodeListPodSandboxResponse(res), want);
    assert.deepEqual(encodeListPodSandboxResponse(res), want, 'and again from the cache');
    assert.equal(ListPodSandboxResponse.decode(want).items.length, count);
  });
}

test('a changed pod record gives a new answer; filters still apply to cached messages', async () => {
  let records = Array.from({ length: 4 }, (_, i) => record(i, { n: String(i % 2) }));
  const deps = { sandboxes: { list: () => records } } as unknown as ServerDeps;
  const before = encodeListPodSandboxResponse(await listPodSandbox(deps, ctx, { filter: undefined }));
  records = records.map((r, i) => (i === 2 ? { ...r, state: 'notready' } : r));
  const res = await listPodSandbox(deps, ctx, { filter: undefined });
  const after = encodeListPodSandboxResponse(res);
  assert.notDeepEqual(after, before);
  assert.equal(ListPodSandboxResponse.decode(after).items[2]?.state, PodSandboxState.SANDBOX_NOTREADY);
  const ready = await listPodSandbox(deps, ctx, { filter: { id: '', state: { state: PodSandboxState.SANDBOX_READY }, labelSelector: { n: '0' } } });
  assert.deepEqual(
    ready.items.map((p) => p.metadata?.name),
    ['p0'],
  );
});

test('a pod status is made once per record version', () => {
  const r = record(1, {});
  assert.equal(toCriPodSandboxStatus(r), toCriPodSandboxStatus(r));
  const changed = { ...r, ips: ['10.0.0.2'] };
  assert.equal(toCriPodSandboxStatus(changed).network?.ip, '10.0.0.2');
  assert.equal(toCriPodSandboxStatus(r).network?.ip, '10.0.0.1');
  assert.deepEqual(toCriPodSandboxStatus(r).network?.additionalIps, [{ ip: 'fd00::1' }]);
});
