import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountOf } from './mount-propagation';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '30 22 0:5 / /mnt rw master:7 - tmpfs tmpfs rw',
  '31 30 0:6 / /mnt/private rw - tmpfs tmpfs rw',
  '32 22 0:7 / /with\\040space rw shared:3 - tmpfs tmpfs rw',
].join('\n');

const cases: { name: string; path: string; want: { mountPoint: string; shared: boolean; slave: boolean } }[] = [
  { name: 'root is shared', path: '/var/lib/x', want: { mountPoint: '/', shared: true, slave: false } },
  { name: 'slave mount', path: '/mnt/a', want: { mountPoint: '/mnt', shared: false, slave: true } },
  { name: 'private submount wins by length', path: '/mnt/private/a', want: { mountPoint: '/mnt/private', shared: false, slave: false } },
  { name: 'prefix is not containment', path: '/mntx', want: { mountPoint: '/', shared: true, slave: false } },
  { name: 'escaped mount point', path: '/with space/f', want: { mountPoint: '/with space', shared: true, slave: false } },
];

for (const c of cases) test(c.name, () => assert.deepEqual(mountOf(MOUNTINFO, c.path), c.want));
