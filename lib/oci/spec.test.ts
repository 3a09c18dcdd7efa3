import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_DEVICE_CGROUP_RULES, PRIVILEGED_DEVICE_CGROUP_RULES } from './defaults';
import { generateSpec } from './spec';
import type { Spec, SpecInput, SpecSecurity } from './spec-input';
import type { Mount } from './spec.gen';

const security: SpecSecurity = {
  privileged: false,
  capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: [], ambient: [] },
  noNewPrivileges: false,
  readonlyRootfs: false,
  maskedPaths: ['/proc/kcore'],
  readonlyPaths: ['/proc/sys'],
};

const base: SpecInput = {
  containerId: 'c1',
  rootfs: '/var/lib/crio-ts/overlay/c1/merged',
  hostname: 'pod-a',
  process: { args: ['/bin/sh'], env: ['PATH=/bin'], cwd: '/', user: { uid: 1000, gid: 1000, additionalGids: [1000] }, terminal: false },
  security,
  namespaces: { network: { mode: 'join', path: '/var/run/netns/p' }, ipc: { mode: 'join', path: '/var/run/ipcns/p' }, uts: { mode: 'join', path: '/var/run/utsns/p' }, pid: { mode: 'new' } },
  mounts: [],
  podFiles: {},
  cgroupsPath: '/kubepods/pod1/crio-c1',
  annotations: { 'io.kubernetes.cri-o.ContainerID': 'c1' },
};

const mount = (spec: Spec, destination: string): Mount | undefined => spec.mounts?.find((m) => m.destination === destination);
const destinations = (spec: Spec): string[] => (spec.mounts ?? []).map((m) => m.destination);

const cases: { name: string; input: Partial<SpecInput>; check: (s: Spec) => void }[] = [
  {
    name: 'basic fields',
    input: {},
    check: (s) => {
      assert.equal(s.ociVersion, '1.0.2-dev');
      assert.deepEqual(s.root, { path: base.rootfs, readonly: false });
      assert.equal(s.hostname, 'pod-a');
      assert.deepEqual(s.process?.args, ['/bin/sh']);
      assert.deepEqual(s.process?.user, { uid: 1000, gid: 1000, additionalGids: [1000] });
      assert.deepEqual(s.process?.capabilities?.bounding, ['CAP_KILL']);
      assert.equal(s.process?.noNewPrivileges, false);
      assert.equal(s.process?.rlimits, undefined);
      assert.equal(s.linux?.cgroupsPath, '/kubepods/pod1/crio-c1');
      assert.deepEqual(s.linux?.maskedPaths, ['/proc/kcore']);
      assert.deepEqual(s.linux?.readonlyPaths, ['/proc/sys']);
      assert.deepEqual(s.linux?.resources?.devices, DEFAULT_DEVICE_CGROUP_RULES);
      assert.deepEqual(s.annotations, base.annotations);
      assert.equal(s.linux?.seccomp, undefined);
      assert.equal(s.process?.apparmorProfile, undefined);
    },
  },
  {
    name: 'systemd cgroups path kept as runc wants it',
    input: { cgroupsPath: 'kubepods-besteffort-pod1.slice:crio:c1' },
    check: (s) => assert.equal(s.linux?.cgroupsPath, 'kubepods-besteffort-pod1.slice:crio:c1'),
  },
  {
    name: 'namespaces: joined paths, new pid, always a new mount ns',
    input: {},
    check: (s) =>
      assert.deepEqual(s.linux?.namespaces, [
        { type: 'pid' },
        { type: 'network', path: '/var/run/netns/p' },
        { type: 'ipc', path: '/var/run/ipcns/p' },
        { type: 'uts', path: '/var/run/utsns/p' },
        { type: 'mount' },
      ]),
  },
  {
    name: 'user namespace: joined first, with its maps; none without one',
    input: {
      namespaces: {
        ...base.namespaces,
        user: { path: '/var/run/userns/p', uidMappings: [{ containerId: 0, hostId: 65536, length: 65536 }], gidMappings: [{ containerId: 0, hostId: 131072, length: 1000 }] },
      },
    },
    check: (s) => {
      assert.deepEqual(s.linux?.namespaces?.[0], { type: 'user', path: '/var/run/userns/p' });
      assert.deepEqual(s.linux?.uidMappings, [{ containerID: 0, hostID: 65536, size: 65536 }]);
      assert.deepEqual(s.linux?.gidMappings, [{ containerID: 0, hostID: 131072, size: 1000 }]);
      const plain = generateSpec(base);
      assert.equal(plain.linux?.uidMappings, undefined);
      assert.ok(!plain.linux?.namespaces?.some((n) => n.type === 'user'));
    },
  },
  {
    name: 'host namespaces are left out; host UTS drops the hostname',
    input: { namespaces: { network: { mode: 'host' }, ipc: { mode: 'host' }, uts: { mode: 'host' }, pid: { mode: 'host' } } },
    check: (s) => {
      assert.deepEqual(s.linux?.namespaces, [{ type: 'mount' }]);
      assert.equal(s.hostname, undefined);
      assert.deepEqual(mount(s, '/dev/mqueue'), { destination: '/dev/mqueue', type: 'bind', source: '/dev/mqueue', options: ['rw', 'rbind', 'nodev', 'nosuid', 'noexec'] });
    },
  },
  {
    name: 'host IPC on a host without /dev/mqueue keeps a fresh mqueue mount',
    input: { namespaces: { ...base.namespaces, ipc: { mode: 'host' } }, hostMqueue: false },
    check: (s) => assert.equal(mount(s, '/dev/mqueue')?.type, 'mqueue'),
  },
  {
    name: 'default mounts, parents before children',
    input: {},
    check: (s) => assert.deepEqual(destinations(s), ['/proc', '/dev', '/sys', '/dev/pts', '/dev/mqueue', '/dev/shm', '/sys/fs/cgroup']),
  },
  {
    name: 'pod files bind-mounted; read-only rootfs makes resolv.conf and hostname ro',
    input: { podFiles: { hostsPath: '/run/p/hosts', resolvPath: '/run/p/resolv.conf', hostnamePath: '/run/p/hostname', shmPath: '/run/p/shm' }, security: { ...security, readonlyRootfs: true } },
    check: (s) => {
      assert.equal(s.root?.readonly, true);
      assert.deepEqual(mount(s, '/etc/hosts'), { destination: '/etc/hosts', type: 'bind', source: '/run/p/hosts', options: ['rw', 'bind'] });
      assert.deepEqual(mount(s, '/etc/resolv.conf')?.options, ['ro', 'bind', 'nodev', 'nosuid', 'noexec']);
      assert.deepEqual(mount(s, '/etc/hostname')?.options, ['ro', 'bind']);
      assert.deepEqual(mount(s, '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/run/p/shm', options: ['rw', 'bind'] });
      assert.equal(destinations(s).filter((d) => d === '/dev/shm').length, 1);
    },
  },
  {
    name: 'mounts.conf binds are read-only; pod files and CRI mounts at the same path win',
    input: {
      podFiles: { resolvPath: '/run/p/resolv.conf' },
      defaultMounts: [
        { containerPath: '/run/secrets', hostPath: '/usr/share/rhel/secrets', readonly: true, propagation: 'private' },
        { containerPath: '/etc/resolv.conf', hostPath: '/etc/other-resolv', readonly: true, propagation: 'private' },
        { containerPath: '/data', hostPath: '/etc/data', readonly: true, propagation: 'private' },
      ],
      mounts: [{ containerPath: '/data', hostPath: '/var/lib/kubelet/data', readonly: false, propagation: 'private' }],
    },
    check: (s) => {
      assert.deepEqual(mount(s, '/run/secrets'), { destination: '/run/secrets', type: 'bind', source: '/usr/share/rhel/secrets', options: ['ro', 'rbind', 'rprivate'] });
      assert.equal(mount(s, '/etc/resolv.conf')?.source, '/run/p/resolv.conf');
      assert.equal(mount(s, '/data')?.source, '/var/lib/kubelet/data');
      assert.equal(s.linux?.rootfsPropagation, undefined);
    },
  },
  {
    name: 'CRI mounts override defaults and pod files with the same destination',
    input: {
      podFiles: { hostsPath: '/run/p/hosts' },
      mounts: [
        { containerPath: '/etc/hosts/', hostPath: '/var/lib/kubelet/pods/u/etc-hosts', readonly: false, propagation: 'private' },
        { containerPath: '/dev/shm', hostPath: '/host/shm', readonly: false, propagation: 'private' },
      ],
    },
    check: (s) => {
      assert.equal(mount(s, '/etc/hosts'), undefined, 'pod file replaced');
      assert.deepEqual(mount(s, '/etc/hosts/'), { destination: '/etc/hosts/', type: 'bind', source: '/var/lib/kubelet/pods/u/etc-hosts', options: ['rw', 'rbind', 'rprivate'] });
      assert.deepEqual(mount(s, '/dev/shm')?.source, '/host/shm');
      assert.equal(destinations(s).filter((d) => d === '/dev/shm').length, 1);
    },
  },
  {
    name: 'CRI volume options, propagation and order by depth',
    input: {
      mounts: [
        { containerPath: '/data/sub', hostPath: '/h/sub', readonly: true, propagation: 'rslave' },
        { containerPath: '/data', hostPath: '/h/data', readonly: false, propagation: 'private' },
      ],
    },
    check: (s) => {
      assert.deepEqual(mount(s, '/data/sub')?.options, ['ro', 'rbind', 'rslave']);
      const d = destinations(s);
      assert.ok(d.indexOf('/data') < d.indexOf('/data/sub'));
      assert.equal(s.linux?.rootfsPropagation, 'rslave');
    },
  },
  {
    name: 'bidirectional mount makes the rootfs rshared',
    input: { mounts: [{ containerPath: '/a', hostPath: '/h/a', readonly: false, propagation: 'rshared' }, { containerPath: '/b', hostPath: '/h/b', readonly: false, propagation: 'rslave' }] },
    check: (s) => assert.equal(s.linux?.rootfsPropagation, 'rshared'),
  },
  {
    name: 'privileged: writable /sys, all devices, no masked/readonly paths, no seccomp',
    input: { security: { ...security, privileged: true }, mounts: [{ containerPath: '/v', hostPath: '/h', readonly: true, propagation: 'private' }] },
    check: (s) => {
      assert.deepEqual(mount(s, '/sys')?.options, ['nosuid', 'noexec', 'nodev', 'rw']);
      assert.deepEqual(mount(s, '/sys/fs/cgroup')?.options, ['nosuid', 'noexec', 'nodev', 'relatime', 'rw']);
      assert.deepEqual(mount(s, '/v')?.options, ['ro', 'rbind', 'rprivate'], 'CRI volumes keep ro');
      assert.deepEqual(s.linux?.resources?.devices, PRIVILEGED_DEVICE_CGROUP_RULES);
      assert.equal(s.linux?.maskedPaths, undefined);
      assert.equal(s.linux?.readonlyPaths, undefined);
      assert.equal(s.linux?.seccomp, undefined);
    },
  },
  {
    name: 'privileged with privileged_seccomp_profile keeps the seccomp resolveSecurity chose',
    input: { security: { ...security, privileged: true, seccomp: { defaultAction: 'SCMP_ACT_LOG' } } },
    check: (s) => assert.deepEqual(s.linux?.seccomp, { defaultAction: 'SCMP_ACT_LOG' }),
  },
  {
    name: 'read_only: tmpfs on /run, /tmp, /var/tmp with tmpcopyup; a CRI mount replaces one',
    input: { security: { ...security, readonlyRootfs: true, readOnlyTmpfs: true }, mounts: [{ containerPath: '/tmp', hostPath: '/h/tmp', readonly: false, propagation: 'private' }] },
    check: (s) => {
      assert.equal(s.root?.readonly, true);
      assert.deepEqual(mount(s, '/run'), { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'mode=0755'] });
      assert.deepEqual(mount(s, '/var/tmp')?.options, ['rw', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'mode=1777']);
      assert.equal(mount(s, '/tmp')?.type, 'bind');
    },
  },
  {
    name: 'no read_only tmpfs mounts by default',
    input: { security: { ...security, readonlyRootfs: true } },
    check: (s) => assert.deepEqual([mount(s, '/run'), mount(s, '/var/tmp')], [undefined, undefined]),
  },
  {
    name: 'cgroup namespace only for unprivileged containers',
    input: { namespaces: { ...base.namespaces, cgroup: { mode: 'new' } } },
    check: (s) => assert.ok(s.linux?.namespaces?.some((n) => n.type === 'cgroup')),
  },
  {
    name: 'security extras: seccomp, apparmor, selinux, no_new_privs',
    input: { security: { ...security, noNewPrivileges: true, seccomp: { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38 }, apparmorProfile: 'crio-default', selinuxLabel: 'system_u:system_r:container_t:s0', mountLabel: 'system_u:object_r:container_file_t:s0' } },
    check: (s) => {
      assert.equal(s.process?.noNewPrivileges, true);
      assert.deepEqual(s.linux?.seccomp, { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38 });
      assert.equal(s.process?.apparmorProfile, 'crio-default');
      assert.equal(s.process?.selinuxLabel, 'system_u:system_r:container_t:s0');
      assert.equal(s.linux?.mountLabel, 'system_u:object_r:container_file_t:s0');
    },
  },
  {
    name: 'resources: only set values; quota -1 kept',
    input: { resources: { cpuShares: 2, cpuQuota: -1, cpuPeriod: 100000, cpusetCpus: '0-1', memoryLimitBytes: 64 << 20, memorySwapLimitBytes: 64 << 20, pidsLimit: 100 } },
    check: (s) => {
      const r = s.linux?.resources;
      assert.deepEqual(r?.cpu, { shares: 2, quota: -1, period: 100000, cpus: '0-1' });
      assert.deepEqual(r?.memory, { limit: 64 << 20, swap: 64 << 20 });
      assert.deepEqual(r?.pids, { limit: 100 });
    },
  },
  {
    name: 'resources: zeros mean unset',
    input: { resources: { cpuShares: 0, cpuQuota: 0, memoryLimitBytes: 0, pidsLimit: 0 } },
    check: (s) => assert.deepEqual([s.linux?.resources?.cpu, s.linux?.resources?.memory, s.linux?.resources?.pids], [undefined, undefined, undefined]),
  },
  {
    name: 'process extras: oom score, rlimits, terminal, umask',
    input: { process: { ...base.process, terminal: true, oomScoreAdj: 0, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }], user: { uid: 0, gid: 0, additionalGids: [], umask: 0o22 } } },
    check: (s) => {
      assert.equal(s.process?.terminal, true);
      assert.equal(s.process?.oomScoreAdj, 0);
      assert.deepEqual(s.process?.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }]);
      assert.equal(s.process?.user?.umask, 0o22);
    },
  },
  {
    name: 'devices and sysctls',
    input: { devices: [{ device: { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }, permissions: 'rw' }], sysctls: { 'net.ipv4.ip_forward': '1' } },
    check: (s) => {
      assert.deepEqual(s.linux?.devices, [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }]);
      assert.deepEqual(s.linux?.resources?.devices?.at(-1), { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' });
      assert.deepEqual(s.linux?.sysctl, { 'net.ipv4.ip_forward': '1' });
    },
  },
];

for (const c of cases) test(`generateSpec: ${c.name}`, () => c.check(generateSpec({ ...base, ...c.input })));

const invalid: { name: string; input: Partial<SpecInput> }[] = [
  { name: 'relative rootfs', input: { rootfs: 'rootfs' } },
  { name: 'relative cgroups path', input: { cgroupsPath: 'kubepods/x' } },
  { name: 'systemd cgroups path with a bad slice', input: { cgroupsPath: 'kubepods--x.slice:crio:c1' } },
  { name: 'empty args', input: { process: { ...base.process, args: [] } } },
  { name: 'relative cwd', input: { process: { ...base.process, cwd: 'work' } } },
  { name: 'relative mount destination', input: { mounts: [{ containerPath: 'data', hostPath: '/h', readonly: false, propagation: 'private' }] } },
  { name: 'relative netns path', input: { namespaces: { ...base.namespaces, network: { mode: 'join', path: 'netns/p' } } } },
];
for (const c of invalid) test(`generateSpec rejects ${c.name}`, () => assert.throws(() => generateSpec({ ...base, ...c.input }), InvalidArgumentError));

test('generateSpec does not share arrays with its input or defaults', () => {
  const a = generateSpec(base);
  a.mounts?.[0]?.options?.push('x');
  a.process?.capabilities?.bounding?.push('CAP_X');
  const b = generateSpec(base);
  assert.deepEqual(b.mounts?.[0]?.options, ['nosuid', 'noexec', 'nodev']);
  assert.deepEqual(security.capabilities.bounding, ['CAP_KILL']);
});
