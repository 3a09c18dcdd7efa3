import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContainerConfig } from '../cri/gen/api';
import { cdiRequests } from './container-extensions';

const config = (over: Partial<ContainerConfig>): ContainerConfig => ContainerConfig.fromPartial(over);

test('CDI requests: the CRI field first, then annotations, a device in both once', () => {
  const c = config({
    CDIDevices: [{ name: 'v.com/gpu=0' }],
    annotations: { 'cdi.k8s.io/plugin_0': 'v.com/gpu=0,v.com/gpu=1', 'other/key': 'v.com/gpu=9', 'cdi.k8s.io/plugin_1': 'v.com/nic=a' },
  });
  assert.deepEqual(cdiRequests(c), ['v.com/gpu=0', 'v.com/gpu=1', 'v.com/nic=a']);
  assert.deepEqual(cdiRequests(config({})), []);
});

test('CDI requests: a malformed annotation value names the annotation', () => {
  assert.throws(() => cdiRequests(config({ annotations: { 'cdi.k8s.io/x': 'v.com/gpu=0,gpu1' } })), /annotation cdi.k8s.io\/x: invalid CDI device name "gpu1"/);
});
