import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinuxContainerResources } from '../cri/gen/api';
import { mergeResources } from './container-update-resources';

const base = LinuxContainerResources.fromPartial({
  cpuShares: 256n,
  memoryLimitInBytes: 100n,
  oomScoreAdj: 5n,
  cpusetCpus: '0',
  unified: { 'memory.high': '1' },
});

const cases: { name: string; update: Partial<LinuxContainerResources>; want: Partial<LinuxContainerResources> }[] = [
  { name: 'set fields replace', update: { cpuShares: 1024n, memoryLimitInBytes: 200n }, want: { cpuShares: 1024n, memoryLimitInBytes: 200n, cpusetCpus: '0' } },
  { name: 'zero and empty fields keep the old value', update: { cpuQuota: 5000n }, want: { cpuShares: 256n, cpuQuota: 5000n, cpusetCpus: '0' } },
  { name: 'oom_score_adj is never updated', update: { oomScoreAdj: -10n }, want: { oomScoreAdj: 5n } },
  { name: 'unified keys merge', update: { unified: { 'memory.low': '2' } }, want: { unified: { 'memory.high': '1', 'memory.low': '2' } } },
];

for (const c of cases) {
  test(c.name, () => {
    const got = mergeResources(base, LinuxContainerResources.fromPartial(c.update));
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k as keyof LinuxContainerResources], v, k);
  });
}
