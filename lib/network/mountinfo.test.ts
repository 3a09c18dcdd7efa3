import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMountInfo, unescapeMountPath } from './mountinfo';

const escapeCases: { name: string; in: string; want: string }[] = [
  { name: 'plain path', in: '/run/netns/abc', want: '/run/netns/abc' },
  { name: 'space', in: '/tmp/a\\040b', want: '/tmp/a b' },
  { name: 'tab newline backslash', in: '/x\\011\\012\\134', want: '/x\t\n\\' },
];
for (const c of escapeCases) test(`unescapeMountPath: ${c.name}`, () => assert.equal(unescapeMountPath(c.in), c.want));

const parseCases: { name: string; text: string; want: { mountPoint: string; optionalFields: string[]; fsType: string }[] }[] = [
  {
    name: 'private nsfs mount',
    text: '44 26 0:4 net:[4026532178] /run/netns/p1 rw - nsfs nsfs rw\n',
    want: [{ mountPoint: '/run/netns/p1', optionalFields: [], fsType: 'nsfs' }],
  },
  {
    name: 'shared bind with optional fields',
    text: '41 26 254:0 /tmp/nsy /tmp/nsy rw,relatime shared:1 master:2 - ext4 /dev/vda rw\n',
    want: [{ mountPoint: '/tmp/nsy', optionalFields: ['shared:1', 'master:2'], fsType: 'ext4' }],
  },
  { name: 'garbage and empty lines skipped', text: 'nonsense\n\n1 2 3\n', want: [] },
];
for (const c of parseCases) test(`parseMountInfo: ${c.name}`, () => assert.deepEqual(parseMountInfo(c.text), c.want));
