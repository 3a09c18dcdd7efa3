import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hasOwnFilesystem, parseMountInfo, unescapeMountField } from './mountinfo';

const escapeCases: { name: string; in: string; want: string }[] = [
  { name: 'plain path', in: '/run/netns/abc', want: '/run/netns/abc' },
  { name: 'space', in: '/tmp/a\\040b', want: '/tmp/a b' },
  { name: 'tab newline backslash', in: '/x\\011\\012\\134', want: '/x\t\n\\' },
];
for (const c of escapeCases) test(`unescapeMountField: ${c.name}`, () => assert.equal(unescapeMountField(c.in), c.want));

const parseCases: { name: string; text: string; want: { mountPoint: string; optionalFields: string[]; fstype: string }[] }[] = [
  {
    name: 'private nsfs mount',
    text: '44 26 0:4 net:[4026532178] /run/netns/p1 rw - nsfs nsfs rw\n',
    want: [{ mountPoint: '/run/netns/p1', optionalFields: [], fstype: 'nsfs' }],
  },
  {
    name: 'shared bind with optional fields',
    text: '41 26 254:0 /tmp/nsy /tmp/nsy rw,relatime shared:1 master:2 - ext4 /dev/vda rw\n',
    want: [{ mountPoint: '/tmp/nsy', optionalFields: ['shared:1', 'master:2'], fstype: 'ext4' }],
  },
  { name: 'garbage and empty lines skipped', text: 'nonsense\n\n1 2 3\n', want: [] },
];
for (const c of parseCases) test(`parseMountInfo: ${c.name}`, () =>
    assert.deepEqual(
      parseMountInfo(c.text).map((e) => ({ mountPoint: e.mountPoint, optionalFields: e.optionalFields, fstype: e.fstype })),
      c.want,
    ),
  );


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

test('hasOwnFilesystem: a mount of another filesystem, a plain directory, a missing path', async () => {
  assert.equal(await hasOwnFilesystem('/proc'), true);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crio-ts-mountinfo-'));
  try {
    assert.equal(await hasOwnFilesystem(dir), false);
    assert.equal(await hasOwnFilesystem(path.join(dir, 'missing')), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
