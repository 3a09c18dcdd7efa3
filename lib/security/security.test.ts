import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../oci/defaults';
import type { SpecSeccomp, SpecSecurity } from '../oci/spec-input';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from './capabilities';
import { type SecurityInput, resolveSecurity } from './security';

const NO_LSM = { apparmor: false, selinux: false, seccomp: false };
const SECCOMP: SpecSeccomp = { defaultAction: 'SCMP_ACT_ERRNO' };
const base: SecurityInput = {
  privileged: false,
  defaultCapabilities: DEFAULT_CAPABILITIES,
  addInheritableCapabilities: false,
  noNewPrivileges: false,
  readonlyRootfs: false,
  maskedPaths: [],
  readonlyPaths: [],
  hostFeatures: NO_LSM,
};

const cases: { name: string; input: Partial<SecurityInput>; check: (s: SpecSecurity, warnings: string[]) => void }[] = [
  {
    name: 'empty CRI masked paths mask nothing (procMount Unmasked)',
    input: {},
    check: (s) => assert.deepEqual([s.maskedPaths, s.readonlyPaths], [[], []]),
  },
  {
    name: 'non-empty CRI masked paths get CRI-O defaults, sorted and de-duplicated',
    input: { maskedPaths: ['/proc/kcore', '/custom'], readonlyPaths: ['/proc/sys', '/proc/bus'] },
    check: (s) => {
      assert.deepEqual(s.maskedPaths, [...new Set([...DEFAULT_MASKED_PATHS, '/custom'])].sort());
      assert.deepEqual(s.readonlyPaths, ['/proc/sys', '/proc/bus']); // verbatim
    },
  },
  {
    name: 'privileged: all caps, no masked/readonly paths, no seccomp',
    input: { privileged: true, maskedPaths: ['/proc/kcore'], readonlyPaths: [...DEFAULT_READONLY_PATHS], seccomp: SECCOMP, hostFeatures: { ...NO_LSM, seccomp: true } },
    check: (s) => {
      assert.equal(s.privileged, true);
      assert.deepEqual(s.capabilities.bounding, ALL_CAPABILITIES);
      assert.deepEqual([s.maskedPaths, s.readonlyPaths, s.seccomp], [[], [], undefined]);
    },
  },
  {
    name: 'noNewPrivileges and readonlyRootfs pass through',
    input: { noNewPrivileges: true, readonlyRootfs: true },
    check: (s, w) => assert.deepEqual([s.noNewPrivileges, s.readonlyRootfs, w], [true, true, []]),
  },
  {
    name: 'noNewPrivileges with privileged warns',
    input: { noNewPrivileges: true, privileged: true },
    check: (_, w) => assert.match(w.join(), /privileged/),
  },
  {
    name: 'noNewPrivileges with CAP_SYS_ADMIN warns',
    input: { noNewPrivileges: true, capabilities: { add: ['SYS_ADMIN'], drop: [] } },
    check: (_, w) => assert.match(w.join(), /CAP_SYS_ADMIN/),
  },
  {
    name: 'AppArmor off on the host: field omitted, even for a bad profile',
    input: { apparmor: { profileType: 'Localhost', localhostRef: '' } },
    check: (s) => assert.equal('apparmorProfile' in s, false),
  },
  {
    name: 'AppArmor on: default profile',
    input: { hostFeatures: { ...NO_LSM, apparmor: true } },
    check: (s) => assert.equal(s.apparmorProfile, 'crio-default'),
  },
  {
    name: 'AppArmor on but privileged: omitted',
    input: { privileged: true, hostFeatures: { ...NO_LSM, apparmor: true } },
    check: (s) => assert.equal(s.apparmorProfile, undefined),
  },
  {
    name: 'AppArmor on with configured default and Localhost request',
    input: { hostFeatures: { ...NO_LSM, apparmor: true }, defaultApparmorProfile: 'mine', apparmor: { profileType: 'Localhost', localhostRef: 'p' } },
    check: (s) => assert.equal(s.apparmorProfile, 'p'),
  },
  {
    name: 'seccomp profile kept when the host supports seccomp',
    input: { seccomp: SECCOMP, hostFeatures: { ...NO_LSM, seccomp: true } },
    check: (s) => assert.deepEqual(s.seccomp, SECCOMP),
  },
  {
    name: 'seccomp profile dropped with a warning when the host lacks seccomp',
    input: { seccomp: SECCOMP },
    check: (s, w) => {
      assert.equal(s.seccomp, undefined);
      assert.match(w.join(), /seccomp/);
    },
  },
  {
    name: 'host capabilities filter and warn',
    input: { capabilities: { add: ['SYS_RESOURCE'], drop: [] }, hostCapabilities: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE') },
    check: (s, w) => {
      assert.equal(s.capabilities.bounding.includes('CAP_SYS_RESOURCE'), false);
      assert.match(w.join(), /CAP_SYS_RESOURCE/);
    },
  },
  {
    name: 'SELinux labels are never produced yet',
    input: { hostFeatures: { apparmor: false, selinux: true, seccomp: false } },
    check: (s) => assert.deepEqual([s.selinuxLabel, s.mountLabel], [undefined, undefined]),
  },
];

for (const c of cases) {
  test(`resolveSecurity: ${c.name}`, () => {
    const { security, warnings } = resolveSecurity({ ...base, ...c.input });
    c.check(security, warnings);
  });
}
