import assert from 'node:assert/strict';
import { test } from 'node:test';

import { defaultConfig, defaultRuntimeHandler } from './config';

test('defaultConfig returns fresh objects', () => {
  const a = defaultConfig();
  a.runtime.default_capabilities.push('CAP_SYS_ADMIN');
  a.runtime.runtimes.runc.monitor_env.push('X=1');
  a.network.plugin_dirs.length = 0;
  assert.deepEqual(defaultConfig().network.plugin_dirs, ['/opt/cni/bin/', '/usr/lib/cni']);
  assert.equal(defaultConfig().runtime.default_capabilities.length, 9);
  assert.equal(defaultConfig().runtime.runtimes.runc.monitor_env.length, 1);
});

const defaults: Array<[string, unknown, unknown]> = [
  ['default_runtime', defaultConfig().runtime.default_runtime, 'runc'],
  ['cgroup_manager', defaultConfig().runtime.cgroup_manager, 'cgroupfs'],
  ['stream_port is a string', defaultConfig().api.stream_port, '0'],
  ['pause_image', defaultConfig().image.pause_image, 'registry.k8s.io/pause:3.10.1'],
  ['runc root', defaultConfig().runtime.runtimes.runc.runtime_root, '/run/runc'],
  ['handler root follows its name', defaultRuntimeHandler('crun').runtime_root, '/run/crun'],
  ['grpc send size', defaultConfig().api.grpc_max_send_msg_size, 83886080],
  ['registries_conf', defaultConfig().registries_conf, ''],
];
for (const [name, got, want] of defaults) test(`default ${name}`, () => assert.deepEqual(got, want));
