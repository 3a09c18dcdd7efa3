import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatXattrDump, type XattrSetting } from './xattr';

const cases: { name: string; input: XattrSetting[]; want: string }[] = [
  { name: 'nothing', input: [], want: '' },
  {
    name: 'opaque marker',
    input: [{ path: 'data', name: 'trusted.overlay.opaque', value: Buffer.from('y') }],
    want: '# file: data\ntrusted.overlay.opaque=0x79\n\n',
  },
  {
    name: 'attributes of one file are grouped',
    input: [
      { path: 'a', name: 'user.x', value: Buffer.from([0, 255]) },
      { path: 'b', name: 'user.y', value: Buffer.alloc(0) },
      { path: 'a', name: 'security.capability', value: Buffer.from([1]) },
    ],
    want: '# file: a\nuser.x=0x00ff\nsecurity.capability=0x01\n\n# file: b\nuser.y=""\n\n',
  },
  {
    name: 'odd characters in paths and names are octal-escaped',
    input: [{ path: 'dir with space/new\nline=\\', name: 'user.a=b', value: Buffer.from('v') }],
    want: '# file: dir\\040with\\040space/new\\012line\\075\\134\nuser.a\\075b=0x76\n\n',
  },
  {
    name: 'non-ASCII bytes are escaped byte by byte',
    input: [{ path: 'é', name: 'user.n', value: Buffer.from('v') }],
    want: '# file: \\303\\251\nuser.n=0x76\n\n',
  },
];

for (const c of cases) {
  test(`formatXattrDump: ${c.name}`, () => {
    assert.equal(formatXattrDump(c.input), c.want);
  });
}
