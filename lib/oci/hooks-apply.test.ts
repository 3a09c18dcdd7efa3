import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyOciHooks, hookMatches, sortHooks, type HookMatchContext } from './hooks-apply';
import { compileHook, type CompiledHook, type HookWhen } from './hooks-def';
import type { Spec } from './spec-input';

const hook = (name: string, when: Omit<HookWhen, 'or'> & { or?: boolean }, stages = ['createContainer']): CompiledHook =>
  compileHook(name, `/hooks/${name}`, { hook: { path: `/bin/${name}` }, when: { or: false, ...when }, stages });

const ctx = (over: Partial<HookMatchContext> = {}): HookMatchContext => ({
  annotations: { 'io.kubernetes.pod.namespace': 'gpu-jobs', 'com.example.department': 'fluid-dynamics' },
  command: '/usr/bin/trainer',
  hasBindMounts: false,
  ...over,
});

const matching: { name: string; when: Omit<HookWhen, 'or'> & { or?: boolean }; ctx?: Partial<HookMatchContext>; want: boolean }[] = [
  { name: 'always', when: { always: true }, want: true },
  { name: 'always false', when: { always: false }, want: false },
  { name: 'no condition at all', when: {}, want: false },
  { name: 'annotation key and value', when: { annotations: { '^com\\.example\\.department$': '.*fluid-dynamics$' } }, want: true },
  { name: 'annotation value does not match', when: { annotations: { '^com\\.example\\.department$': '^finance$' } }, want: false },
  { name: 'key and value must match the same annotation', when: { annotations: { 'namespace$': 'fluid' } }, want: false },
  { name: 'all annotation patterns must match', when: { annotations: { namespace: 'gpu', department: 'finance' } }, want: false },
  { name: 'command', when: { commands: ['/trainer$'] }, want: true },
  { name: 'command does not match', when: { commands: ['/init$', '/systemd$'] }, want: false },
  { name: 'hasBindMounts with mounts', when: { hasBindMounts: true }, ctx: { hasBindMounts: true }, want: true },
  { name: 'hasBindMounts without mounts', when: { hasBindMounts: true }, want: false },
  { name: 'hasBindMounts false never matches', when: { hasBindMounts: false }, want: false },
  { name: 'and: annotation and command', when: { annotations: { namespace: '^gpu-' }, commands: ['trainer'] }, want: true },
  { name: 'and: annotation holds, command does not', when: { annotations: { namespace: '^gpu-' }, commands: ['^sh$'] }, want: false },
  { name: 'and: always but no bind mounts', when: { always: true, hasBindMounts: true }, want: false },
  { name: 'or (0.1.0): command fails, bind mounts hold', when: { or: true, commands: ['^sh$'], hasBindMounts: true }, ctx: { hasBindMounts: true }, want: true },
  { name: 'or (0.1.0): nothing holds', when: { or: true, commands: ['^sh$'], hasBindMounts: true }, want: false },
  { name: 'or (0.1.0): annotations as one alternation', when: { or: true, annotations: { '.*': 'nope|fluid' } }, want: true },
];
for (const c of matching) {
  test(`hook match: ${c.name}`, () => assert.equal(hookMatches(hook('h.json', c.when), ctx(c.ctx)), c.want));
}

test('hooks are sorted by lower-cased file name', () => {
  const names = sortHooks([hook('02-b.json', {}), hook('01-UPPER.json', {}), hook('01-lower.json', {})]).map((h) => h.name);
  assert.deepEqual(names, ['01-lower.json', '01-UPPER.json', '02-b.json']);
});

test('applyOciHooks adds matching hooks to their stages (prestart as createRuntime), leaving the input alone', () => {
  const spec: Spec = { ociVersion: '1.0.2-dev', hooks: { poststop: [{ path: '/bin/existing' }] } };
  const hooks = [
    hook('a.json', { always: true }, ['prestart', 'poststop']),
    hook('b.json', { commands: ['^sh$'] }, ['createContainer']),
    hook('c.json', { annotations: { department: 'fluid' } }, ['createContainer', 'startContainer', 'poststart', 'createRuntime']),
  ];
  const before = structuredClone(spec);
  const r = applyOciHooks(spec, hooks, ctx());
  assert.deepEqual(spec, before);
  assert.deepEqual(r.matched, ['/hooks/a.json', '/hooks/c.json']);
  assert.deepEqual(r.spec.hooks, {
    poststop: [{ path: '/bin/existing' }, { path: '/bin/a.json' }],
    createRuntime: [{ path: '/bin/a.json' }, { path: '/bin/c.json' }],
    createContainer: [{ path: '/bin/c.json' }],
    startContainer: [{ path: '/bin/c.json' }],
    poststart: [{ path: '/bin/c.json' }],
  });
});

test('applyOciHooks without matches returns the same spec', () => {
  const spec: Spec = { ociVersion: '1.0.2-dev' };
  assert.equal(applyOciHooks(spec, [hook('a.json', { always: false })], ctx()).spec, spec);
});
