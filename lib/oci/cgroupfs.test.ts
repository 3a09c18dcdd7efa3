import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { moveToCgroup, parseCgroupMounts, removeCgroup } from './cgroupfs';

const MOUNTINFO = [
  '25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '32 30 0:28 / /sys/fs/cgroup/name\\040x rw,relatime - cgroup cgroup rw,name=x',
  '33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '34 25 0:30 / /proc rw - proc proc rw',
  '',
].join('\n');

test('parseCgroupMounts lists v1 and v2 hierarchies only', () => {
  assert.deepEqual(parseCgroupMounts(MOUNTINFO), ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/name x', '/sys/fs/cgroup/unified']);
});

/** Validation runs before any I/O, so these never touch the host's cgroups. */
const NO_SUCH_PID = 2 ** 30;
const badPaths = ['relative/x', '/a/../../etc', '/./x', '/', ''];
for (const p of badPaths) {
  test(`cgroup helpers reject path ${JSON.stringify(p)}`, async () => {
    await assert.rejects(moveToCgroup(NO_SUCH_PID, p), InvalidArgumentError);
    await assert.rejects(removeCgroup(p), InvalidArgumentError);
  });
}

for (const pid of [0, 1, -5, 1.5]) {
  test(`moveToCgroup refuses pid ${pid}`, async () => {
    await assert.rejects(moveToCgroup(pid, '/crio-ts-never-created'), InvalidArgumentError);
  });
}
