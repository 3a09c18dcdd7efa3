import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindRelocatedDevices } from './device-binds';
import type { Spec } from './spec-input';

const spec = (): Spec => ({
  ociVersion: '1.0.2-dev',
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
    { destination: '/dev/shm', type: 'bind', source: '/run/shm' },
    { destination: '/var/data', type: 'bind', source: '/data' },
  ],
  linux: {
    devices: [
      { path: '/dev/null', type: 'c', major: 1, minor: 3 },
      { path: '/dev/vendor0', type: 'c', major: 1, minor: 3 },
      { path: '/dev/dri/card9', type: 'c', major: 226, minor: 0 },
    ],
    resources: { devices: [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] },
  },
});

test('devices whose host node lives elsewhere become bind mounts, in depth order, keeping cgroup rules', () => {
  const input = spec();
  const out = bindRelocatedDevices(input, new Map([['/dev/null', '/dev/null'], ['/dev/vendor0', '/dev/null'], ['/dev/dri/card9', '/dev/dri/card0']]));
  assert.deepEqual(out.linux?.devices?.map((d) => d.path), ['/dev/null']);
  assert.deepEqual(out.mounts?.map((m) => m.destination), ['/proc', '/dev', '/dev/shm', '/var/data', '/dev/vendor0', '/dev/dri/card9']);
  assert.deepEqual(out.mounts?.[4], { destination: '/dev/vendor0', type: 'bind', source: '/dev/null', options: ['bind', 'nosuid', 'noexec'] });
  assert.deepEqual(out.linux?.resources, input.linux?.resources);
  assert.equal(input.linux?.devices?.length, 3, 'input untouched');
});

test('nothing to move returns the same spec', () => {
  const input = spec();
  assert.equal(bindRelocatedDevices(input, new Map([['/dev/null', '/dev/null']])), input);
});
