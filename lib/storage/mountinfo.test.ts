import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMountInfo, unescapeMountField } from './mountinfo';

const cases: { name: string; line: string; want: { mountPoint: string; fstype: string; source: string; superOptions: string } | undefined }[] = [
  {
    name: 'plain ext4 root',
    line: '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
    want: { mountPoint: '/', fstype: 'ext4', source: '/dev/vda', superOptions: 'rw,discard' },
  },
  {
    name: 'optional fields before the separator',
    line: '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue',
    want: { mountPoint: '/mnt2', fstype: 'ext3', source: '/dev/root', superOptions: 'rw,errors=continue' },
  },
  {
    name: 'overlay with escaped space in the mount point',
    line: '90 26 0:50 / /tmp/a\\040b/merged rw,relatime - overlay overlay rw,lowerdir=l/A,upperdir=/x/diff,workdir=/x/work',
    want: { mountPoint: '/tmp/a b/merged', fstype: 'overlay', source: 'overlay', superOptions: 'rw,lowerdir=l/A,upperdir=/x/diff,workdir=/x/work' },
  },
  { name: 'truncated line is skipped', line: '26 1 254:0 / /', want: undefined },
  { name: 'no separator is skipped', line: '26 1 254:0 / / rw ext4 /dev/vda rw', want: undefined },
];

for (const c of cases) {
  test(`parseMountInfo: ${c.name}`, () => {
    const got = parseMountInfo(c.line + '\n');
    if (c.want === undefined) {
      assert.deepEqual(got, []);
      return;
    }
    assert.equal(got.length, 1);
    const [m] = got;
    assert.deepEqual({ mountPoint: m?.mountPoint, fstype: m?.fstype, source: m?.source, superOptions: m?.superOptions }, c.want);
  });
}

const escapes: { name: string; input: string; want: string }[] = [
  { name: 'space', input: 'a\\040b', want: 'a b' },
  { name: 'tab and newline', input: '\\011x\\012', want: '\tx\n' },
  { name: 'backslash', input: 'a\\134b', want: 'a\\b' },
  { name: 'nothing to do', input: '/var/lib', want: '/var/lib' },
];

for (const c of escapes) {
  test(`unescapeMountField: ${c.name}`, () => {
    assert.equal(unescapeMountField(c.input), c.want);
  });
}
