import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../oci/defaults';
import type { SpecSecurity } from '../oci/spec-input';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from './capabilities';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';
import type { SeccompProfile } from './seccomp-profile';
import { type SecurityInput, resolveSecurity } from './security';

const NO_LSM = { apparmor: false, selinux: false, seccomp: false };
const ALL_LSM = { apparmor: true, selinux: true, seccomp: true };
const BLOCK_MKDIR: SeccompProfile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
const APPARMOR = { defaultProfile: 'crio-default' };
const SELINUX = { podSandboxId: 'p1', privileged: false, hostPid: false, hostIpc: false, hostNetwork: false, hostNetworkDisablesSelinux: true };
const base: SecurityInput = {
  privileged: false,
  sandboxPrivileged: false,
  defaultCapabilities: DEFAULT_CAPABILITIES,
  addInheritableCapabilities: false,
  noNewPrivileges: false,
  readonlyRootfs: false,
  maskedPaths: [],
  readonlyPaths: [],
  apparmor: APPARMOR,
  arch: 'amd64',
  hostFeatures: NO_LSM,
};

type Check = (s: SpecSecurity, warnings: string[], umask: number | undefined) => void;
const cases: { name: string; input: Partial<SecurityInput>; check: Check }[] = [
  {
    name: 'empty CRI masked paths mask nothing (procMount Unmasked)',
    input: { hostMaskedPaths: ['/sys/devices/system/cpu/cpu0/thermal_throttle'] },
    check: (s) => assert.deepEqual([s.maskedPaths, s.readonlyPaths], [[], []]),
  },
  {
    name: 'non-empty CRI masked paths get CRI-O defaults and host globs, sorted and de-duplicated',
    input: { maskedPaths: ['/proc/kcore', '/custom'], hostMaskedPaths: ['/sys/devices/system/cpu/cpu0/thermal_throttle'], readonlyPaths: ['/proc/sys', '/proc/bus'] },
    check: (s) => {
      assert.deepEqual(s.maskedPaths, [...new Set([...DEFAULT_MASKED_PATHS, '/custom', '/sys/devices/system/cpu/cpu0/thermal_throttle'])].sort());
      assert.deepEqual(s.readonlyPaths, ['/proc/sys', '/proc/bus']); // verbatim
    },
  },
  {
    name: 'privileged: all caps, no masked/readonly paths, no seccomp/AppArmor/SELinux process label',
    input: { privileged: true, sandboxPrivileged: true, maskedPaths: ['/proc/kcore'], readonlyPaths: [...DEFAULT_READONLY_PATHS], selinux: SELINUX, hostFeatures: { ...ALL_LSM, seccomp: true } },
    check: (s) => {
      assert.equal(s.privileged, true);
      assert.deepEqual(s.capabilities.bounding, ALL_CAPABILITIES);
      assert.deepEqual(s.capabilities.ambient, ALL_CAPABILITIES);
      assert.deepEqual([s.maskedPaths, s.readonlyPaths, s.seccomp, s.apparmorProfile, s.selinuxLabel], [[], [], undefined, undefined, undefined]);
      assert.match(s.mountLabel ?? '', /container_file_t/);
    },
  },
  {
    name: 'privileged with a privileged profile: converted with every capability',
    input: { privileged: true, sandboxPrivileged: true, seccompProfile: DEFAULT_SECCOMP_PROFILE, hostFeatures: { ...NO_LSM, seccomp: true } },
    check: (s) => assert.ok(s.seccomp?.syscalls?.some((c) => c.names.includes('unshare') && c.action === 'SCMP_ACT_ALLOW')),
  },
  {
    name: 'noNewPrivileges and readonlyRootfs pass through',
    input: { noNewPrivileges: true, readonlyRootfs: true },
    check: (s, w) => assert.deepEqual([s.noNewPrivileges, s.readonlyRootfs, s.readOnlyTmpfs, w], [true, true, undefined, []]),
  },
  {
    name: 'crio.conf read_only: read-only rootfs plus tmpfs mounts',
    input: { globalReadOnly: true },
    check: (s) => assert.deepEqual([s.readonlyRootfs, s.readOnlyTmpfs], [true, true]),
  },
  { name: 'noNewPrivileges with privileged warns', input: { noNewPrivileges: true, privileged: true, sandboxPrivileged: true }, check: (_, w) => assert.match(w.join(), /privileged/) },
  { name: 'noNewPrivileges with CAP_SYS_ADMIN warns', input: { noNewPrivileges: true, capabilities: { add: ['SYS_ADMIN'], drop: [] } }, check: (_, w) => assert.match(w.join(), /CAP_SYS_ADMIN/) },
  {
    name: 'AppArmor off on the host: field omitted, even for a bad profile, with a warning for a specific one',
    input: { apparmor: { ...APPARMOR, request: { profileType: 'Localhost', localhostRef: '' } } },
    check: (s, w) => {
      assert.equal('apparmorProfile' in s, false);
      assert.match(w.join(), /AppArmor is not enabled/);
    },
  },
  {
    name: 'AppArmor off: Localhost request warns naming the profile',
    input: { apparmor: { ...APPARMOR, deprecated: 'localhost/mine' } },
    check: (s, w) => assert.match(w.join(), /AppArmor is not enabled.*localhost\/mine/),
  },
  { name: 'AppArmor off: RuntimeDefault is quiet', input: { apparmor: { ...APPARMOR, request: { profileType: 'RuntimeDefault' } } }, check: (s, w) => assert.deepEqual(w, []) },
  { name: 'AppArmor on: default profile', input: { hostFeatures: { ...NO_LSM, apparmor: true } }, check: (s) => assert.equal(s.apparmorProfile, 'crio-default') },
  { name: 'AppArmor on but privileged: omitted', input: { privileged: true, sandboxPrivileged: true, hostFeatures: { ...NO_LSM, apparmor: true } }, check: (s) => assert.equal(s.apparmorProfile, undefined) },
  {
    name: 'AppArmor on with configured default and Localhost request',
    input: { hostFeatures: { ...NO_LSM, apparmor: true }, apparmor: { defaultProfile: 'mine', request: { profileType: 'Localhost', localhostRef: 'p' } } },
    check: (s) => assert.equal(s.apparmorProfile, 'p'),
  },
  {
    name: 'seccomp profile converted for the container when the host supports seccomp',
    input: { seccompProfile: BLOCK_MKDIR, hostFeatures: { ...NO_LSM, seccomp: true } },
    check: (s) => assert.deepEqual(s.seccomp, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }),
  },
  {
    name: 'capability-conditional rules follow the final bounding set (drop ALL, add SYS_ADMIN)',
    input: { seccompProfile: DEFAULT_SECCOMP_PROFILE, capabilities: { add: ['SYS_ADMIN'], drop: ['ALL'] }, hostFeatures: { ...NO_LSM, seccomp: true } },
    check: (s) => {
      assert.deepEqual(s.capabilities.bounding, ['CAP_SYS_ADMIN']);
      assert.ok(s.seccomp?.syscalls?.some((c) => c.names.includes('unshare')));
      assert.equal(s.seccomp?.syscalls?.some((c) => c.names.includes('chroot') && c.action === 'SCMP_ACT_ALLOW'), false);
    },
  },
  { name: 'no seccomp on a host without it', input: { seccompProfile: BLOCK_MKDIR }, check: (s) => assert.equal(s.seccomp, undefined) },
  {
    name: 'host capabilities filter and warn',
    input: { capabilities: { add: ['SYS_RESOURCE'], drop: [] }, hostCapabilities: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE') },
    check: (s, w) => {
      assert.equal(s.capabilities.bounding.includes('CAP_SYS_RESOURCE'), false);
      assert.match(w.join(), /CAP_SYS_RESOURCE/);
    },
  },
  { name: 'SELinux off on the host: no labels', input: { selinux: SELINUX }, check: (s) => assert.deepEqual([s.selinuxLabel, s.mountLabel], [undefined, undefined]) },
  { name: 'SELinux on but crio.conf selinux=false (no input): no labels', input: { hostFeatures: { ...NO_LSM, selinux: true } }, check: (s) => assert.deepEqual([s.selinuxLabel, s.mountLabel], [undefined, undefined]) },
  {
    name: 'SELinux on: process and mount labels with the pod level',
    input: { selinux: SELINUX, hostFeatures: { ...NO_LSM, selinux: true } },
    check: (s) => {
      assert.match(s.selinuxLabel ?? '', /^system_u:system_r:container_t:s0:c\d+,c\d+$/);
      assert.equal(s.mountLabel, (s.selinuxLabel ?? '').replace('system_r:container_t', 'object_r:container_file_t'));
    },
  },
  { name: 'SELinux on, host IPC: no labels', input: { selinux: { ...SELINUX, hostIpc: true }, hostFeatures: { ...NO_LSM, selinux: true } }, check: (s) => assert.deepEqual([s.selinuxLabel, s.mountLabel], [undefined, undefined]) },
  { name: 'umask annotation (octal)', input: { umaskAnnotation: '0027' }, check: (_s, _w, umask) => assert.equal(umask, 0o027) },
  { name: 'no umask annotation', input: {}, check: (_s, _w, umask) => assert.equal(umask, undefined) },
];

for (const c of cases) {
  test(`resolveSecurity: ${c.name}`, () => {
    const { security, warnings, umask } = resolveSecurity({ ...base, ...c.input });
    c.check(security, warnings, umask);
  });
}

const bad: { name: string; input: Partial<SecurityInput>; message: RegExp }[] = [
  { name: 'privileged container in an unprivileged pod', input: { privileged: true }, message: /no privileged container allowed in sandbox/ },
  { name: 'malformed umask', input: { umaskAnnotation: '0999' }, message: /invalid umask string 0999/ },
  { name: 'too long umask', input: { umaskAnnotation: '00777' }, message: /invalid umask/ },
  { name: 'unknown capability', input: { capabilities: { add: ['FLY'], drop: [] } }, message: /FLY/ },
];
for (const c of bad) {
  test(`resolveSecurity rejects ${c.name}`, () => {
    assert.throws(() => resolveSecurity({ ...base, ...c.input }), (e: unknown) => e instanceof InvalidArgumentError && c.message.test(e.message));
  });
}

test('resolveSecurity: sandboxPrivileged omitted is not checked (infra containers)', () => {
  const { sandboxPrivileged: _omit, ...rest } = base;
  assert.equal(resolveSecurity({ ...rest, privileged: true }).security.privileged, true);
});
