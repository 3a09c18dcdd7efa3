import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import type { SpecSeccomp } from '../oci/spec-input';
import { DEFAULT_CAPABILITIES } from './capabilities';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';
import { nativeSeccompArch, toOciSeccomp } from './seccomp-oci';
import type { SeccompProfile } from './seccomp-profile';

const ERRNOS = { EPERM: 1, EINVAL: 22, ENOSYS: 38 };
const DEFAULT_CAPS = DEFAULT_CAPABILITIES.map((c) => `CAP_${c}`);
type Call = NonNullable<SpecSeccomp['syscalls']>[number];

const rules = (s: SpecSeccomp | undefined, name: string): Call[] => (s?.syscalls ?? []).filter((c) => c.names.includes(name));
/** Syscalls allowed unconditionally (an ALLOW rule without argument filters). */
const allowed = (s: SpecSeccomp | undefined): Set<string> =>
  new Set((s?.syscalls ?? []).filter((c) => c.action === 'SCMP_ACT_ALLOW' && !c.args?.length).flatMap((c) => c.names));

const profile = (syscalls: SeccompProfile['syscalls'], extra: Partial<SeccompProfile> = {}): SeccompProfile => ({ defaultAction: 'SCMP_ACT_ERRNO', syscalls, ...extra });

const cases: { name: string; profile: SeccompProfile; caps?: string[]; arch?: string; want: SpecSeccomp | undefined }[] = [
  { name: 'empty profile disables seccomp', profile: { defaultAction: '', syscalls: [] }, want: undefined },
  {
    name: 'includes.caps needs every cap; excludes.caps drops on any',
    profile: profile([
      { names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'] } },
      { names: ['b'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['c'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'] } },
      { names: ['d'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_BPF'] } },
    ]),
    caps: ['CAP_SYS_ADMIN'],
    want: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['b'], action: 'SCMP_ACT_ALLOW' }, { names: ['d'], action: 'SCMP_ACT_ALLOW' }] },
  },
  {
    name: 'includes/excludes arches use the native arch name',
    profile: profile([
      { names: ['a'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
      { names: ['b'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
      { names: ['c'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
    ]),
    want: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW' }] },
  },
  {
    name: 'name becomes names; errno by name, by number, else errnoRet; args copied',
    profile: profile(
      [
        { name: 'a', action: 'SCMP_ACT_ERRNO', errno: 'EPERM', errnoRet: 99 },
        { names: ['b'], action: 'SCMP_ACT_ERRNO', errno: '13' },
        { names: ['c'], action: 'SCMP_ACT_ERRNO', errnoRet: 5, args: [{ index: 1, value: 2, valueTwo: 3, op: 'SCMP_CMP_MASKED_EQ' }] },
      ],
      { defaultErrno: 'ENOSYS', defaultErrnoRet: 1 },
    ),
    want: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      syscalls: [
        { names: ['a'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        { names: ['b'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['c'], action: 'SCMP_ACT_ERRNO', errnoRet: 5, args: [{ index: 1, value: 2, valueTwo: 3, op: 'SCMP_CMP_MASKED_EQ' }] },
      ],
    },
  },
  {
    name: 'archMap: the native entry and its sub-architectures; flags and listener kept',
    profile: profile([], {
      archMap: [
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      ],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      listenerPath: '/run/l.sock',
      listenerMetadata: 'm',
    }),
    want: {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      listenerPath: '/run/l.sock',
      listenerMetadata: 'm',
    },
  },
  {
    name: 'archMap without an entry for the native arch leaves architectures to runc',
    profile: profile([], { archMap: [{ architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] }] }),
    arch: 'amd64',
    want: { defaultAction: 'SCMP_ACT_ERRNO' },
  },
  {
    name: 'plain architectures pass through',
    profile: profile([], { architectures: ['SCMP_ARCH_X86_64'] }),
    want: { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'] },
  },
];
for (const c of cases) {
  test(`toOciSeccomp: ${c.name}`, () => {
    assert.deepEqual(toOciSeccomp(c.profile, { bounding: c.caps ?? [], arch: c.arch ?? 'amd64', errnos: ERRNOS }), c.want);
  });
}

test('toOciSeccomp: unknown errno name names it', () => {
  assert.throws(() => toOciSeccomp(profile([{ names: ['a'], action: 'SCMP_ACT_ERRNO', errno: 'EWHAT' }]), { bounding: [], arch: 'amd64', errnos: ERRNOS }), (e: unknown) => e instanceof InvalidArgumentError && /EWHAT/.test(e.message));
});

test('toOciSeccomp: rules without a default action are refused', () => {
  assert.throws(() => toOciSeccomp({ defaultAction: '', syscalls: [{ names: ['a'], action: 'SCMP_ACT_ALLOW' }] }, { bounding: [], arch: 'amd64' }), InvalidArgumentError);
});

const arches: [string, string][] = [['x64', 'amd64'], ['arm64', 'arm64'], ['ia32', 'x86'], ['s390x', 's390x'], ['ppc64', 'ppc64le'], ['riscv64', 'riscv64']];
for (const [node, want] of arches) test(`nativeSeccompArch(${node}) = ${want}`, () => assert.equal(nativeSeccompArch(node), want));

// The built-in profile: CRI-O's default in effect, including its hardening.
const defaultCases: { name: string; caps: string[]; arch?: string; check: (s: SpecSeccomp | undefined) => void }[] = [
  {
    name: 'ERRNO/ENOSYS by default with the x86 sub-architectures',
    caps: DEFAULT_CAPS,
    check: (s) => {
      assert.equal(s?.defaultAction, 'SCMP_ACT_ERRNO');
      assert.equal(s?.defaultErrnoRet, 38);
      assert.deepEqual(s?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    },
  },
  {
    name: 'ordinary work is allowed, mount syscalls too (capabilities guard them)',
    caps: DEFAULT_CAPS,
    check: (s) => {
      const ok = allowed(s);
      // setns is in containers/common's list as well as in the CAP_SYS_ADMIN pair; libseccomp keeps the first
      // unconditional rule, so it is allowed (the kernel still wants CAP_SYS_ADMIN for most namespaces).
      for (const name of ['read', 'write', 'openat', 'execve', 'mkdir', 'mkdirat', 'fork', 'vfork', 'arch_prctl', 'mount', 'pivot_root', 'ptrace', 'setns']) {
        assert.ok(ok.has(name), name);
      }
      assert.equal(ok.has('s390_runtime_instr'), false);
      assert.equal(ok.has('riscv_flush_icache'), false);
    },
  },
  {
    name: 'explicit EPERM list',
    caps: DEFAULT_CAPS,
    check: (s) => {
      const eperm = (s?.syscalls ?? []).find((c) => c.names.includes('kexec_load'));
      assert.deepEqual([eperm?.action, eperm?.errnoRet], ['SCMP_ACT_ERRNO', 1]);
      for (const n of ['bdflush', 'userfaultfd', 'vmsplice', 'swapon', 'nice', 'syscall']) assert.ok(eperm?.names.includes(n), n);
    },
  },
  {
    name: 'hardening without CAP_SYS_ADMIN: clone only without CLONE_NEW*, clone3 ENOSYS, unshare not allowed',
    caps: DEFAULT_CAPS,
    check: (s) => {
      const ok = allowed(s);
      for (const n of ['clone', 'clone3', 'unshare', 'chroot', 'bpf', 'perf_event_open', 'sethostname']) assert.equal(ok.has(n), false, n);
      assert.deepEqual(rules(s, 'unshare'), []);
      assert.deepEqual(rules(s, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
      const clone = rules(s, 'clone');
      assert.deepEqual(clone[0], { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }] });
      assert.equal(clone[1]?.action, 'SCMP_ACT_ERRNO');
      assert.equal(clone[1]?.errnoRet, 1);
      assert.deepEqual(clone[1]?.args?.map((a) => [a.index, a.value, a.valueTwo]), [0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x2000000].map((f) => [0, f, f]));
      assert.equal(clone.length, 2);
    },
  },
  {
    name: 'with CAP_SYS_ADMIN: clone, clone3, unshare, setns allowed; no EPERM/ENOSYS for them',
    caps: [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'],
    check: (s) => {
      const ok = allowed(s);
      for (const n of ['clone', 'clone3', 'unshare', 'setns', 'sethostname', 'bpf', 'perf_event_open']) assert.ok(ok.has(n), n);
      assert.equal(rules(s, 'clone').some((c) => c.action === 'SCMP_ACT_ERRNO'), false);
      assert.equal(rules(s, 'clone3').some((c) => c.action === 'SCMP_ACT_ERRNO'), false);
    },
  },
  {
    name: 'capability pairs: chroot with CAP_SYS_CHROOT, EPERM without',
    caps: ['CAP_SYS_CHROOT'],
    check: (s) => {
      assert.ok(allowed(s).has('chroot'));
      assert.equal(rules(s, 'chroot').some((c) => c.action === 'SCMP_ACT_ERRNO'), false);
    },
  },
  {
    name: 'socket: vsock refused, audit netlink EINVAL without CAP_AUDIT_WRITE',
    caps: DEFAULT_CAPS,
    check: (s) => {
      assert.deepEqual(rules(s, 'socket').map((c) => [c.action, c.errnoRet]), [['SCMP_ACT_ERRNO', 1], ['SCMP_ACT_ERRNO', 22], ['SCMP_ACT_ALLOW', undefined], ['SCMP_ACT_ALLOW', undefined]]);
    },
  },
  {
    name: 'socket with CAP_AUDIT_WRITE: everything but vsock',
    caps: ['CAP_AUDIT_WRITE'],
    check: (s) => assert.deepEqual(rules(s, 'socket').map((c) => [c.action, c.args?.[0]?.op]), [['SCMP_ACT_ERRNO', 'SCMP_CMP_EQ'], ['SCMP_ACT_ALLOW', 'SCMP_CMP_NE']]),
  },
  {
    name: 's390x: clone flags are argument 1',
    caps: DEFAULT_CAPS,
    arch: 's390x',
    check: (s) => {
      assert.deepEqual(s?.architectures, ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390']);
      assert.ok(rules(s, 'clone').every((c) => c.args?.every((a) => a.index === 1)));
      assert.ok(allowed(s).has('s390_runtime_instr'));
      assert.equal(allowed(s).has('arch_prctl'), false);
    },
  },
];
for (const c of defaultCases) {
  test(`default profile: ${c.name}`, () => c.check(toOciSeccomp(DEFAULT_SECCOMP_PROFILE, { bounding: c.caps, arch: c.arch ?? 'amd64', errnos: ERRNOS })));
}

test('default profile: the allow list is containers/common minus clone, clone3, unshare', () => {
  const list = DEFAULT_SECCOMP_PROFILE.syscalls[1]?.names ?? [];
  assert.equal(list.length, 367);
  assert.equal(new Set(list).size, list.length);
});
