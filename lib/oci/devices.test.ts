import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { devMajor, devMinor, devicePermissions, devicesFromPath, parseDeviceSpec } from './devices';

const devCases: { name: string; dev: bigint; major: number; minor: number }[] = [
  { name: '/dev/null', dev: 0x103n, major: 1, minor: 3 },
  { name: 'large minor', dev: 0x0100_0103n, major: 1, minor: 0x1003 },
  { name: 'large major', dev: (1n << 44n) | 0x503n, major: 0x1005, minor: 3 },
];
for (const c of devCases) {
  test(`major/minor: ${c.name}`, () => {
    assert.equal(devMajor(c.dev), c.major);
    assert.equal(devMinor(c.dev), c.minor);
  });
}

const permCases: { name: string; input: string; want?: string }[] = [
  { name: 'empty means rwm', input: '', want: 'rwm' },
  { name: 'subset', input: 'rw', want: 'rw' },
  { name: 'unknown letter', input: 'rx' },
  { name: 'duplicate', input: 'rr' },
];
for (const c of permCases) {
  test(`permissions: ${c.name}`, () => {
    if (c.want === undefined) assert.throws(() => devicePermissions(c.input, 'test'), InvalidArgumentError);
    else assert.equal(devicePermissions(c.input, 'test'), c.want);
  });
}

test('parseDeviceSpec defaults the container path and permissions', () => {
  assert.deepEqual(parseDeviceSpec('/dev/fuse'), { hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rwm' });
  assert.deepEqual(parseDeviceSpec('/dev/null:/dev/mynull:r'), { hostPath: '/dev/null', containerPath: '/dev/mynull', permissions: 'r' });
});

test('devicesFromPath reads /dev/null and refuses a regular file', async () => {
  const [d] = await devicesFromPath('/dev/null', '/dev/x', 'rw');
  assert.deepEqual({ ...d?.device, uid: 0, gid: 0, fileMode: 0 }, { path: '/dev/x', type: 'c', major: 1, minor: 3, fileMode: 0, uid: 0, gid: 0 });
  await assert.rejects(devicesFromPath('/etc/hostname', '/x', 'rw'), /not a device/);
});
