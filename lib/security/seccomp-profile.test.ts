import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { parseSeccompProfile, parseSeccompProfileText } from './seccomp-profile';

test('parseSeccompProfile keeps every known field and drops unknown ones', () => {
  const p = parseSeccompProfile(
    {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      defaultErrno: 'EPERM',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      unknownKey: true,
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [], comment: 'c', includes: {}, excludes: {} },
        { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 1, errno: 'EPERM', includes: { caps: ['CAP_SYS_ADMIN'], arches: ['amd64'] } },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, valueTwo: 0, op: 'SCMP_CMP_NE' }], excludes: { caps: ['CAP_AUDIT_WRITE'] } },
      ],
    },
    'p.json',
  );
  assert.deepEqual(p, {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    defaultErrno: 'EPERM',
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [] },
      { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 1, errno: 'EPERM', includes: { caps: ['CAP_SYS_ADMIN'], arches: ['amd64'] } },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }], excludes: { caps: ['CAP_AUDIT_WRITE'] } },
    ],
  });
});

test('parseSeccompProfile accepts an OCI-style profile (architectures, no archMap)', () => {
  const p = parseSeccompProfile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }, 'p');
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64']);
});

test('parseSeccompProfile treats an empty object as "no seccomp" input', () => {
  assert.deepEqual(parseSeccompProfile({}, 'p'), { defaultAction: '', syscalls: [] });
});

const bad: { name: string; json: unknown; message: RegExp }[] = [
  { name: 'not an object', json: [], message: /profile must be an object/ },
  { name: 'unknown default action', json: { defaultAction: 'SCMP_ACT_MAYBE' }, message: /defaultAction must be one of/ },
  { name: 'syscalls not an array', json: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: {} }, message: /syscalls must be an array/ },
  { name: 'unknown rule action', json: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'ALLOW' }] }, message: /syscalls\[0\]\.action/ },
  { name: 'name and names', json: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] }, message: /either 'name' or 'names'/ },
  { name: 'unknown operator', json: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'EQ' }] }] }, message: /args\[0\]\.op/ },
  { name: 'value beyond 2^53', json: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }] }, message: /value must be an unsigned integer/ },
  { name: 'negative errnoRet', json: { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: -1 }, message: /defaultErrnoRet/ },
  { name: 'unknown architecture', json: { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, message: /architectures\[0\]/ },
  { name: 'architectures and archMap', json: { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86'], archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] }, message: /either 'architectures' or 'archMap'/ },
  { name: 'unknown flag', json: { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_X'] }, message: /flags\[0\]/ },
  { name: 'caps not strings', json: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { caps: [1] } }] }, message: /includes\.caps/ },
];
for (const c of bad) {
  test(`parseSeccompProfile rejects ${c.name}`, () => {
    assert.throws(() => parseSeccompProfile(c.json, '/etc/p.json'), (e: unknown) => e instanceof InvalidArgumentError && /\/etc\/p\.json/.test(e.message) && c.message.test(e.message));
  });
}

test('parseSeccompProfileText names the file when the JSON is broken', () => {
  assert.throws(() => parseSeccompProfileText('{nope', '/x.json'), (e: unknown) => e instanceof InvalidArgumentError && /\/x\.json: decoding failed/.test(e.message));
});
