import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';

import { InvalidArgumentError } from '../errors';
import { normalizeCapability } from '../security/capabilities';
import { defaultConfig, type Config } from './config';
import { validateConfig } from './validate';

const noSystemd = { systemdBooted: () => false };

interface Case {
  name: string;
  mutate: (c: Config) => void;
  /** undefined: the config must be accepted. */
  error?: RegExp;
  /** Whether systemd is init on the pretended host (default: no). */
  systemd?: boolean;
}

const cases: Case[] = [
  { name: 'defaults are valid', mutate: () => undefined },
  { name: 'empty storage_driver means overlay', mutate: (c) => (c.crio.storage_driver = '') },
  { name: 'unix:// listen', mutate: (c) => (c.api.listen = 'unix:///run/x.sock') },
  {
    name: 'caps with and without prefix',
    mutate: (c) => (c.runtime.default_capabilities = ['chown', 'CAP_KILL', 'Net_Raw']),
  },
  { name: 'good ulimits', mutate: (c) => (c.runtime.default_ulimits = ['nofile=1024:2048', 'core=-1', 'nproc=10:-1']) },
  { name: 'good sysctl', mutate: (c) => (c.runtime.default_sysctls = ['net.ipv4.ip_forward=1']) },
  { name: 'good device', mutate: (c) => (c.runtime.additional_devices = ['/dev/fuse', '/dev/sda:/dev/xvda:rw', '/dev/fuse:rw', '/dev/sdb:/dev/xvdb']) },
  { name: 'uppercase log level', mutate: (c) => (c.runtime.log_level = 'DEBUG') },
  { name: 'log_size_max >= 8192', mutate: (c) => (c.runtime.log_size_max = 8192) },
  {
    name: 'default_runtime names a handler',
    mutate: (c) => (c.runtime.default_runtime = 'crun'),
    error:
      /^crio\.runtime\.default_runtime: expected the name of a \[crio\.runtime\.runtimes\.<name>\] table \("runc"\), got "crun"$/,
  },
  {
    name: 'runtime_type oci only',
    mutate: (c) => (c.runtime.runtimes.runc.runtime_type = 'vm'),
    error: /^crio\.runtime\.runtimes\.runc\.runtime_type: expected "oci" .*got "vm"$/,
  },
  {
    name: 'cgroup_manager value',
    mutate: (c) => (c.runtime.cgroup_manager = 'foo'),
    error: /^crio\.runtime\.cgroup_manager: expected "cgroupfs" or "systemd", got "foo"$/,
  },
  {
    name: 'systemd needs systemd as init',
    mutate: (c) => (c.runtime.cgroup_manager = 'systemd'),
    error:
      /^crio\.runtime\.cgroup_manager: expected "cgroupfs" because systemd is not init here \(\/run\/systemd\/system is missing\), got "systemd"$/,
  },
  { name: 'systemd accepted where systemd is init', systemd: true, mutate: (c) => (c.runtime.cgroup_manager = 'systemd') },
  {
    name: 'systemd: monitor_cgroup "pod"',
    systemd: true,
    mutate: (c) => {
      c.runtime.cgroup_manager = 'systemd';
      c.runtime.runtimes.runc.monitor_cgroup = 'pod';
    },
  },
  {
    name: 'systemd: monitor_cgroup a nested slice',
    systemd: true,
    mutate: (c) => {
      c.runtime.cgroup_manager = 'systemd';
      c.runtime.runtimes.runc.monitor_cgroup = 'crio-conmon.slice';
    },
  },
  {
    name: 'systemd: conmon_cgroup a slice',
    systemd: true,
    mutate: (c) => {
      c.runtime.cgroup_manager = 'systemd';
      c.runtime.conmon_cgroup = 'system.slice';
    },
  },
  {
    name: 'systemd: monitor_cgroup a cgroupfs path',
    systemd: true,
    mutate: (c) => {
      c.runtime.cgroup_manager = 'systemd';
      c.runtime.runtimes.runc.monitor_cgroup = '/crio/conmon';
    },
    error: /^crio\.runtime\.runtimes\.runc\.monitor_cgroup: expected "pod" or a systemd slice such as "system\.slice" with cgroup_manager "systemd", got "\/crio\/conmon"$/,
  },
  {
    name: 'systemd: monitor_cgroup an invalid slice',
    systemd: true,
    mutate: (c) => {
      c.runtime.cgroup_manager = 'systemd';
      c.runtime.runtimes.runc.monitor_cgroup = 'a--b.slice';
    },
    error: /monitor_cgroup: expected "pod" or a systemd slice.*got "a--b\.slice"$/,
  },
  {
    name: 'systemd: conmon_cgroup overrides and is named',
    systemd: true,
    mutate: (c) => {
      c.runtime.cgroup_manager = 'systemd';
      c.runtime.conmon_cgroup = 'conmon';
      c.runtime.runtimes.runc.monitor_cgroup = 'pod';
    },
    error: /^crio\.runtime\.conmon_cgroup: expected "pod" or a systemd slice.*got "conmon"$/,
  },
  { name: 'cgroupfs: monitor_cgroup "pod"', mutate: (c) => (c.runtime.runtimes.runc.monitor_cgroup = 'pod') },
  { name: 'cgroupfs: conmon_cgroup "pod"', mutate: (c) => (c.runtime.conmon_cgroup = 'pod') },
  // CRI-O's default monitor_cgroup; with cgroupfs it means "".
  { name: 'cgroupfs: system.slice tolerated', mutate: (c) => (c.runtime.runtimes.runc.monitor_cgroup = 'system.slice') },
  {
    name: 'cgroupfs: monitor_cgroup another slice',
    mutate: (c) => (c.runtime.runtimes.runc.monitor_cgroup = 'kubepods.slice'),
    error: /^crio\.runtime\.runtimes\.runc\.monitor_cgroup: expected "pod" or "" with cgroup_manager "cgroupfs", got "kubepods\.slice"$/,
  },
  {
    name: 'cgroupfs: conmon_cgroup a path',
    mutate: (c) => (c.runtime.conmon_cgroup = '/crio/conmon'),
    error: /^crio\.runtime\.conmon_cgroup: expected "pod" or "" with cgroup_manager "cgroupfs", got "\/crio\/conmon"$/,
  },
  {
    name: 'log_level',
    mutate: (c) => (c.runtime.log_level = 'loud'),
    error: /^crio\.runtime\.log_level: expected one of fatal\|panic.*got "loud"$/,
  },
  {
    name: 'short_name_mode',
    mutate: (c) => (c.image.short_name_mode = 'permissive'),
    error: /^crio\.image\.short_name_mode: expected "enforcing" or "disabled", got "permissive"$/,
  },
  {
    name: 'image_volumes',
    mutate: (c) => (c.image.image_volumes = 'tmpfs'),
    error: /^crio\.image\.image_volumes: expected "mkdir", "bind" or "ignore", got "tmpfs"$/,
  },
  {
    name: 'storage_driver',
    mutate: (c) => (c.crio.storage_driver = 'vfs'),
    error: /^crio\.storage_driver: expected "overlay".*got "vfs"$/,
  },
  {
    name: 'capability name',
    mutate: (c) => (c.runtime.default_capabilities = ['CHOWN', 'CAP_FLY']),
    error: /^crio\.runtime\.default_capabilities: expected Linux capability names.*got "CAP_FLY"$/,
  },
  {
    name: 'sysctl with spaces',
    mutate: (c) => (c.runtime.default_sysctls = ['net.ipv4.ip_forward = 1']),
    error:
      /^crio\.runtime\.default_sysctls: expected "key=value" entries without spaces, got "net\.ipv4\.ip_forward = 1"$/,
  },
  {
    name: 'sysctl without =',
    mutate: (c) => (c.runtime.default_sysctls = ['kernel.shmmax']),
    error: /default_sysctls: expected "key=value"/,
  },
  {
    name: 'ulimit name',
    mutate: (c) => (c.runtime.default_ulimits = ['files=1:2']),
    error: /default_ulimits: expected "name=soft:hard".*got "files=1:2"/,
  },
  {
    name: 'ulimit form',
    mutate: (c) => (c.runtime.default_ulimits = ['nofile=a:b']),
    error: /default_ulimits: expected "name=soft:hard"/,
  },
  {
    name: 'ulimit soft > hard',
    mutate: (c) => (c.runtime.default_ulimits = ['nofile=10:5']),
    error: /default_ulimits: expected a soft limit not above/,
  },
  {
    name: 'relative listen',
    mutate: (c) => (c.api.listen = 'crio.sock'),
    error: /^crio\.api\.listen: expected an absolute socket path.*got "crio\.sock"$/,
  },
  {
    name: 'stream_port not a number',
    mutate: (c) => (c.api.stream_port = 'http'),
    error: /^crio\.api\.stream_port: expected a port number 0-65535, got "http"$/,
  },
  {
    name: 'stream_port too big',
    mutate: (c) => (c.api.stream_port = '65536'),
    error: /stream_port: expected a port number 0-65535, got "65536"/,
  },
  {
    name: 'pull_progress_timeout duration',
    mutate: (c) => (c.image.pull_progress_timeout = '10'),
    error: /^crio\.image\.pull_progress_timeout: expected a Go duration such as "0s".*got "10"$/,
  },
  {
    name: 'stream_idle_timeout duration',
    mutate: (c) => (c.api.stream_idle_timeout = '5 min'),
    error: /stream_idle_timeout: expected a Go duration/,
  },
  {
    name: 'cni grace duration',
    mutate: (c) => (c.network.cni_status_grace_period = 'x'),
    error: /cni_status_grace_period: expected a Go duration/,
  },
  {
    name: 'container_min_memory size',
    mutate: (c) => (c.runtime.runtimes.runc.container_min_memory = 'lots'),
    error: /^crio\.runtime\.runtimes\.runc\.container_min_memory: expected a memory size.*got "lots"$/,
  },
  {
    name: 'log_size_max too small',
    mutate: (c) => (c.runtime.log_size_max = 100),
    error: /log_size_max: expected a negative number \(no limit\) or at least 8192, got 100/,
  },
  {
    name: 'relative root',
    mutate: (c) => (c.crio.root = 'storage'),
    error: /^crio\.root: expected an absolute path, got "storage"$/,
  },
  {
    name: 'bad device',
    mutate: (c) => (c.runtime.additional_devices = ['/dev/sda:/dev/xvda:rwx']),
    error: /additional_devices: expected/,
  },
  {
    name: 'device outside /dev in the container',
    mutate: (c) => (c.runtime.additional_devices = ['/dev/sda:/xvda']),
    error: /additional_devices: expected .* under \/dev\//,
  },
  {
    name: 'tls without cert',
    mutate: (c) => (c.api.stream_enable_tls = true),
    error: /^crio\.api\.stream_tls_cert: expected a file path because stream_enable_tls is true/,
  },
];

for (const c of cases) {
  test(`validate: ${c.name}`, () => {
    const config = defaultConfig();
    c.mutate(config);
    const host = c.systemd ? { systemdBooted: () => true } : noSystemd;
    if (c.error === undefined) {
      validateConfig(config, undefined, host);
      return;
    }
    assert.throws(
      () => validateConfig(config, undefined, host),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.match(err.message, c.error as RegExp);
        return true;
      },
    );
  });
}

test('validate: without a probe, systemd is accepted only where /run/systemd/system exists', () => {
  const config = defaultConfig();
  config.runtime.cgroup_manager = 'systemd';
  if (existsSync('/run/systemd/system')) validateConfig(config);
  else assert.throws(() => validateConfig(config), /expected "cgroupfs" because systemd is not init here/);
});

test('validate: the message starts with the source of the key', () => {
  const config = defaultConfig();
  config.runtime.cgroup_manager = 'foo';
  const sourceOf = (key: string): string | undefined =>
    key === 'crio.runtime.cgroup_manager' ? '/etc/crio/crio.conf.d/10-x.conf' : undefined;
  assert.throws(() => validateConfig(config, sourceOf, noSystemd), {
    message:
      '/etc/crio/crio.conf.d/10-x.conf: crio.runtime.cgroup_manager: expected "cgroupfs" or "systemd", got "foo"',
  });
});

const caps: Array<[string, string | undefined]> = [
  ['chown', 'CAP_CHOWN'],
  ['CAP_SYS_ADMIN', 'CAP_SYS_ADMIN'],
  ['cap_net_raw', 'CAP_NET_RAW'],
  ['CHECKPOINT_RESTORE', 'CAP_CHECKPOINT_RESTORE'],
  ['ALL', undefined],
  ['CAP_', undefined],
];
for (const [input, want] of caps) {
  test(`normalizeCapability(${input})`, () => assert.equal(normalizeCapability(input), want));
}
