import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { devMajor, devMinor, deviceFromPath, devicePermissions, devicesFromPath, parseDeviceSpec } from './devices';

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

const specCases: { spec: string; want?: [string, string, string]; error?: RegExp }[] = [
  { spec: '/dev/fuse', want: ['/dev/fuse', '/dev/fuse', 'rwm'] },
  { spec: '/dev/null:/dev/mynull:r', want: ['/dev/null', '/dev/mynull', 'r'] },
  { spec: '/dev/sdc:/dev/xvdc', want: ['/dev/sdc', '/dev/xvdc', 'rwm'] },
  { spec: '/dev/fuse:rw', want: ['/dev/fuse', '/dev/fuse', 'rw'] },
  { spec: '/dev/fuse:', want: ['/dev/fuse', '/dev/fuse', 'rwm'] },
  { spec: '/dev/a:/dev/b:rwx', error: /invalid permissions "rwx"/ },
  { spec: '/dev/a:xyz', error: /invalid container path or permissions "xyz"/ },
  { spec: '/dev/a:/b', error: /must be under \/dev\// },
  { spec: 'dev/a', error: /host path must be absolute/ },
  { spec: '/dev/a:/dev/b:r:w', error: /too many fields/ },
];
for (const c of specCases) {
  test(`parseDeviceSpec ${c.spec}`, () => {
    if (c.error) return assert.throws(() => parseDeviceSpec(c.spec), (err: unknown) => err instanceof InvalidArgumentError && c.error!.test(err.message));
    const [hostPath, containerPath, permissions] = c.want ?? [];
    assert.deepEqual(parseDeviceSpec(c.spec), { hostPath, containerPath, permissions });
  });
}

test('deviceFromPath refuses a directory; devicesFromPath records host paths that differ', async () => {
  await assert.rejects(deviceFromPath('/dev/net', '/dev/net', 'rwm'), /is a directory/);
  assert.equal((await deviceFromPath('/dev/null', '/dev/null', 'rwm')).hostPath, undefined);
  assert.equal((await deviceFromPath('/dev/null', '/dev/other', 'rwm')).hostPath, '/dev/null');
});

test('devicesFromPath reads /dev/null and refuses a regular file', async () => {
  const [d] = await devicesFromPath('/dev/null', '/dev/x', 'rw');
  assert.deepEqual({ ...d?.device, uid: 0, gid: 0, fileMode: 0 }, { path: '/dev/x', type: 'c', major: 1, minor: 3, fileMode: 0, uid: 0, gid: 0 });
  await assert.rejects(devicesFromPath('/etc/hostname', '/x', 'rw'), /not a device/);
});
