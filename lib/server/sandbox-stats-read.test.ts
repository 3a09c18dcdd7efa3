import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetDevCounters } from '../oci/cgroup-parse';
import { networkUsage, sumSamples } from './sandbox-stats-read';

const dev = (name: string, tx: bigint): NetDevCounters => ({
  name,
  rxBytes: 1n,
  rxPackets: 1n,
  rxErrors: 0n,
  rxDropped: 0n,
  txBytes: tx,
  txPackets: 1n,
  txErrors: 0n,
  txDropped: 0n,
});

const netCases: { name: string; counters: NetDevCounters[]; def: string | undefined; names: string[] }[] = [
  { name: 'eth0 is the default, lo is left out', counters: [dev('lo', 9n), dev('eth0', 5n), dev('net1', 2n)], def: 'eth0', names: ['eth0', 'net1'] },
  { name: 'without eth0 the first interface is the default', counters: [dev('lo', 9n), dev('net1', 2n)], def: 'net1', names: ['net1'] },
  { name: 'only loopback', counters: [dev('lo', 9n)], def: undefined, names: [] },
];
for (const c of netCases) {
  test(`networkUsage: ${c.name}`, () => {
    const u = networkUsage(c.counters, 1n);
    assert.equal(u.defaultInterface?.name, c.def);
    assert.deepEqual(
      u.interfaces.map((i) => i.name),
      c.names,
    );
  });
}

test('sumSamples adds CPU, memory and process counts', () => {
  const cpu = (n: bigint) => ({ usageNs: n, userNs: n, systemNs: 0n, periods: 0n, throttledPeriods: 0n, throttledNs: 0n });
  const mem = (n: bigint) => ({ usage: n, workingSet: n, rss: n, cache: 0n, mappedFile: 0n, pageFaults: 1n, majorPageFaults: 0n, failcnt: 0n, oomKills: 0n });
  const s = sumSamples(
    [
      { timestampNs: 1n, cpu: cpu(10n), memory: mem(100n), pids: { current: 2n } },
      { timestampNs: 2n, cpu: cpu(5n), memory: mem(50n), pids: { current: 1n } },
    ],
    9n,
  );
  assert.equal(s.timestampNs, 9n);
  assert.equal(s.cpu?.usageNs, 15n);
  assert.equal(s.memory?.workingSet, 150n);
  assert.equal(s.memory?.pageFaults, 2n);
  assert.equal(s.pids?.current, 3n);
});
