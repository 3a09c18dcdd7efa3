import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerRecord, SandboxRecord } from '../state/records';
import { containerCgroup, StatsCache } from './container-stats-read';

const cases: { name: string; samples: [bigint, bigint][]; want: (bigint | undefined)[] }[] = [
  { name: 'first sample has no rate', samples: [[1_000_000_000n, 5n]], want: [undefined] },
  {
    name: 'one core busy for a second',
    samples: [
      [1_000_000_000n, 0n],
      [2_000_000_000n, 1_000_000_000n],
    ],
    want: [undefined, 1_000_000_000n],
  },
  {
    name: 'half a core',
    samples: [
      [0n, 0n],
      [2_000_000_000n, 1_000_000_000n],
    ],
    want: [undefined, 500_000_000n],
  },
  {
    name: 'a counter reset gives no rate',
    samples: [
      [0n, 10n],
      [1n, 5n],
    ],
    want: [undefined, undefined],
  },
  {
    name: 'same timestamp gives no rate',
    samples: [
      [7n, 0n],
      [7n, 5n],
    ],
    want: [undefined, undefined],
  },
];

for (const c of cases) {
  test(`nanoCores: ${c.name}`, () => {
    const cache = new StatsCache();
    assert.deepEqual(
      c.samples.map(([ts, usage]) => cache.nanoCores('k', ts, usage)),
      c.want,
    );
  });
}

test('diskUsage measures once within its lifetime and again after forget', async () => {
  const cache = new StatsCache();
  let calls = 0;
  const measure = async () => ({ bytes: ++calls, inodes: 1 });
  assert.equal((await cache.diskUsage('c', measure)).bytes, 1);
  assert.equal((await cache.diskUsage('c', measure)).bytes, 1);
  cache.forget('c');
  assert.equal((await cache.diskUsage('c', measure)).bytes, 2);
});

const cgroups: { name: string; cgroupsPath?: string; podParent?: string; want: string }[] = [
  { name: 'cgroupfs record', cgroupsPath: '/kubepods/pod1/crio-c1', podParent: '/kubepods/pod1', want: '/kubepods/pod1/crio-c1' },
  { name: 'systemd record', cgroupsPath: 'kubepods-pod1.slice:crio:c1', podParent: 'kubepods-pod1.slice', want: '/kubepods.slice/kubepods-pod1.slice/crio-c1.scope' },
  { name: 'old record, cgroupfs pod', podParent: '/kubepods/pod1', want: '/kubepods/pod1/crio-c1' },
  { name: 'old record, systemd pod', podParent: 'system.slice', want: '/system.slice/crio-c1.scope' },
  { name: 'old record, pod gone', want: '/crio/crio-c1' },
];
for (const c of cgroups) {
  test(`containerCgroup: ${c.name}`, () => {
    const record = { id: 'c1', ...(c.cgroupsPath === undefined ? {} : { cgroupsPath: c.cgroupsPath }) } as ContainerRecord;
    const pod = c.podParent === undefined ? undefined : ({ id: 'p1', cgroupParent: c.podParent } as SandboxRecord);
    assert.equal(containerCgroup(record, pod), c.want);
  });
}
