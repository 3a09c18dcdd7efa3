import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { type SeccompChoice, type SeccompChoiceInput, chooseSeccomp, seccompRequestFromPath } from './seccomp';

const base: SeccompChoiceInput = {
  securityContextSet: true,
  privileged: false,
  privilegedProfile: '',
  useDefaultWhenEmpty: false,
  hostSupportsSeccomp: true,
  handlerProfile: '',
  handlerName: 'runc',
  globalProfile: '',
};

const RD = { profileType: 'RuntimeDefault' } as const;
const cases: { name: string; input: Partial<SeccompChoiceInput>; want: Omit<SeccompChoice, 'warnings'>; warns?: RegExp }[] = [
  { name: 'RuntimeDefault → built-in', input: { request: RD }, want: { source: { kind: 'builtin' }, ref: 'RuntimeDefault' } },
  { name: 'Unconfined', input: { request: { profileType: 'Unconfined' } }, want: { source: { kind: 'unconfined' }, ref: 'Unconfined' } },
  {
    name: 'Localhost → that absolute path, normalised',
    input: { request: { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/../seccomp/p.json' } },
    want: { source: { kind: 'localhost', path: '/var/lib/kubelet/seccomp/p.json' }, ref: '/var/lib/kubelet/seccomp/p.json' },
  },
  { name: 'field unset → unconfined with an empty ref (CRI-O)', input: {}, want: { source: { kind: 'unconfined' }, ref: '' } },
  { name: 'field unset + seccomp_use_default_when_empty → RuntimeDefault', input: { useDefaultWhenEmpty: true }, want: { source: { kind: 'builtin' }, ref: 'RuntimeDefault' } },
  { name: 'no security context at all → RuntimeDefault (CRI-O fills one in)', input: { securityContextSet: false }, want: { source: { kind: 'builtin' }, ref: 'RuntimeDefault' } },
  {
    name: 'RuntimeDefault with [crio.runtime] seccomp_profile',
    input: { request: RD, globalProfile: '/etc/crio/seccomp.json' },
    want: { source: { kind: 'config', path: '/etc/crio/seccomp.json', key: 'crio.runtime.seccomp_profile', fallbackToBuiltin: true }, ref: 'RuntimeDefault' },
  },
  {
    name: 'the handler profile wins over the global one and does not fall back',
    input: { request: RD, globalProfile: '/g.json', handlerProfile: '/h.json', handlerName: 'kata' },
    want: { source: { kind: 'config', path: '/h.json', key: 'crio.runtime.runtimes.kata.seccomp_profile', fallbackToBuiltin: false }, ref: 'RuntimeDefault' },
  },
  { name: 'privileged → unconfined whatever was asked', input: { privileged: true, request: { profileType: 'Localhost', localhostRef: '/p.json' } }, want: { source: { kind: 'unconfined' }, ref: 'Unconfined' } },
  {
    name: 'privileged with privileged_seccomp_profile → that file as Localhost',
    input: { privileged: true, request: { profileType: 'Unconfined' }, privilegedProfile: '/etc/crio/priv.json' },
    want: { source: { kind: 'localhost', path: '/etc/crio/priv.json' }, ref: '/etc/crio/priv.json' },
  },
  { name: 'host without seccomp: RuntimeDefault runs unconfined with a warning', input: { request: RD, hostSupportsSeccomp: false }, want: { source: { kind: 'unconfined' }, ref: 'Unconfined' }, warns: /not enabled/ },
  { name: 'host without seccomp: Unconfined is quiet', input: { request: { profileType: 'Unconfined' }, hostSupportsSeccomp: false }, want: { source: { kind: 'unconfined' }, ref: 'Unconfined' } },
  {
    name: 'host without seccomp: privileged_seccomp_profile warns instead of failing',
    input: { privileged: true, privilegedProfile: '/p.json', hostSupportsSeccomp: false },
    want: { source: { kind: 'unconfined' }, ref: 'Unconfined' },
    warns: /not enabled/,
  },
];
for (const c of cases) {
  test(`chooseSeccomp: ${c.name}`, () => {
    const { warnings, ...choice } = chooseSeccomp({ ...base, ...c.input });
    assert.deepEqual(choice, c.want);
    if (c.warns) assert.match(warnings.join('\n'), c.warns);
    else assert.deepEqual(warnings, []);
  });
}

const bad: { name: string; input: Partial<SeccompChoiceInput>; error: new (m: string) => Error; message: RegExp }[] = [
  { name: 'Localhost on a host without seccomp', input: { request: { profileType: 'Localhost', localhostRef: '/p.json' }, hostSupportsSeccomp: false }, error: FailedPreconditionError, message: /seccomp is not enabled.*\/p\.json/ },
  { name: 'Localhost without a ref', input: { request: { profileType: 'Localhost', localhostRef: '' } }, error: InvalidArgumentError, message: /without localhost_ref/ },
  { name: 'Localhost with a relative path', input: { request: { profileType: 'Localhost', localhostRef: 'profiles/p.json' } }, error: InvalidArgumentError, message: /"profiles\/p\.json" is not an absolute path/ },
  { name: 'relative privileged_seccomp_profile', input: { privileged: true, privilegedProfile: 'p.json' }, error: InvalidArgumentError, message: /privileged_seccomp_profile/ },
];
for (const c of bad) {
  test(`chooseSeccomp rejects ${c.name}`, () => {
    assert.throws(() => chooseSeccomp({ ...base, ...c.input }), (e: unknown) => e instanceof c.error && c.message.test(e.message));
  });
}

const pathCases: { path: string; want: ReturnType<typeof seccompRequestFromPath> }[] = [
  { path: '', want: undefined },
  { path: 'unconfined', want: { profileType: 'Unconfined' } },
  { path: 'runtime/default', want: { profileType: 'RuntimeDefault' } },
  { path: 'docker/default', want: { profileType: 'RuntimeDefault' } },
  { path: 'localhost//var/lib/kubelet/seccomp/p.json', want: { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/p.json' } },
];
for (const c of pathCases) test(`seccompRequestFromPath ${JSON.stringify(c.path)}`, () => assert.deepEqual(seccompRequestFromPath(c.path), c.want));

test('seccompRequestFromPath refuses a profile without the localhost/ prefix', () => {
  assert.throws(() => seccompRequestFromPath('/etc/profile.json'), /is not "unconfined", "runtime\/default", "docker\/default" or "localhost\/<path>"/);
});
