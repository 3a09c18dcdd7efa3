import assert from 'node:assert/strict';
import { test } from 'node:test';
import { controllerDir, parseCgroupMounts } from './cgroup-layout';

test('v1 hybrid: controllers, co-mounts and the empty unified tree', () => {
  const mi = [
    '25 24 0:22 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    '26 24 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
    '27 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '28 24 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
  ].join('\n');
  const { v1, v2 } = parseCgroupMounts(mi);
  assert.equal(v2, '/sys/fs/cgroup/unified');
  assert.deepEqual(
    [...v1.entries()],
    [
      ['cpu', '/sys/fs/cgroup/cpu,cpuacct'],
      ['cpuacct', '/sys/fs/cgroup/cpu,cpuacct'],
      ['memory', '/sys/fs/cgroup/memory'],
    ],
  );
  assert.equal(controllerDir({ version: 1, controllers: v1, swapAccounting: true }, 'memory', '/kubepods/pod1'), '/sys/fs/cgroup/memory/kubepods/pod1');
  assert.equal(controllerDir({ version: 1, controllers: v1, swapAccounting: true }, 'hugetlb', '/x'), undefined);
});

test('pure v2', () => {
  const { v1, v2 } = parseCgroupMounts('25 24 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw');
  assert.equal(v1.size, 0);
  assert.equal(v2, '/sys/fs/cgroup');
});
