import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHook, goRegExp, parseHookFile, type HookDef } from './hooks-def';

const parsed: { name: string; json: unknown; want: HookDef }[] = [
  {
    name: '1.0.0',
    json: { version: '1.0.0', hook: { path: '/usr/bin/h', args: ['h', 'x'], env: ['A=1'], timeout: 5 }, when: { always: true }, stages: ['prestart'] },
    want: { hook: { path: '/usr/bin/h', args: ['h', 'x'], env: ['A=1'], timeout: 5 }, when: { always: true, or: false }, stages: ['prestart'] },
  },
  {
    name: '1.0.0 ignores unknown fields and matches names case-insensitively',
    json: { version: '1.0.0', hook: { path: '/h', colour: 1 }, when: { HASBINDMOUNTS: true, commands: ['sh$'] }, stages: ['poststop'], extra: true },
    want: { hook: { path: '/h' }, when: { hasBindMounts: true, commands: ['sh$'], or: false }, stages: ['poststop'] },
  },
  {
    name: '0.1.0 becomes an or-ed 1.0.0 hook',
    json: { hook: '/usr/libexec/h', arguments: ['--debug'], cmd: ['.*/init$'], annotation: ['a', 'b'], hasbindmounts: true, stage: ['prestart'] },
    want: {
      hook: { path: '/usr/libexec/h', args: ['/usr/libexec/h', '--debug'] },
      when: { or: true, commands: ['.*/init$'], hasBindMounts: true, annotations: { '.*': 'a|b' } },
      stages: ['prestart'],
    },
  },
  {
    name: 'explicit 0.1.0 without arguments',
    json: { version: '0.1.0', hook: '/h', stages: ['poststart'] },
    want: { hook: { path: '/h' }, when: { or: true }, stages: ['poststart'] },
  },
];
for (const c of parsed) {
  test(`hook file parsed: ${c.name}`, () => assert.deepEqual(parseHookFile(JSON.stringify(c.json)), c.want));
}

const refused: { name: string; text: string; error: RegExp }[] = [
  { name: 'not JSON', text: '{', error: /invalid JSON/ },
  { name: 'unknown version', text: '{"version":"2.0.0"}', error: /unrecognized hook version "2.0.0"/ },
  { name: '1.0.0 without a path', text: '{"version":"1.0.0","hook":{},"when":{"always":true},"stages":["prestart"]}', error: /hook.path/ },
  { name: '1.0.0 without stages', text: '{"version":"1.0.0","hook":{"path":"/h"},"when":{"always":true}}', error: /stages/ },
  { name: '0.1.0 with stage and stages', text: '{"hook":"/h","stage":["prestart"],"stages":["prestart"]}', error: /both 'stage' and 'stages'/ },
  { name: '0.1.0 without hook', text: '{"stages":["prestart"]}', error: /required property: hook/ },
  { name: 'a wrongly typed field', text: '{"version":"1.0.0","hook":{"path":"/h"},"when":{"always":"yes"},"stages":["prestart"]}', error: /always: expected true or false/ },
];
for (const c of refused) {
  test(`hook file refused: ${c.name}`, () => assert.throws(() => parseHookFile(c.text), c.error));
}

test('compileHook refuses unknown stages and bad regexps', () => {
  const def = (when: HookDef['when'], stages = ['prestart']): HookDef => ({ hook: { path: '/h' }, when, stages });
  assert.throws(() => compileHook('a.json', '/d/a.json', def({ always: true, or: false }, ['prestop'])), /unknown stage "prestop"/);
  assert.throws(() => compileHook('a.json', '/d/a.json', def({ commands: ['('], or: false })), /invalid regexp "\("/);
  assert.throws(() => compileHook('a.json', '/d/a.json', def({ annotations: { a: '[' }, or: false })), /invalid regexp "\["/);
  assert.equal(compileHook('a.json', '/d/a.json', def({ annotations: { '^k$': 'v' }, commands: ['sh'], or: false })).annotations.length, 1);
});

const regexps: { pattern: string; yes: string[]; no: string[] }[] = [
  { pattern: 'sh', yes: ['/bin/sh', 'bash'], no: ['zsx'] },
  { pattern: '^/bin/sh$', yes: ['/bin/sh'], no: ['/bin/sh2'] },
  { pattern: '(?i)^gpu$', yes: ['GPU', 'gpu'], no: ['gpus'] },
  { pattern: '^[[:digit:]]+$', yes: ['123'], no: ['12a'] },
  { pattern: '\\Aab\\z', yes: ['ab'], no: ['abc', 'xab'] },
];
for (const c of regexps) {
  test(`RE2 pattern ${c.pattern}`, () => {
    const re = goRegExp(c.pattern);
    for (const s of c.yes) assert.ok(re.test(s), `${c.pattern} should match ${s}`);
    for (const s of c.no) assert.ok(!re.test(s), `${c.pattern} should not match ${s}`);
  });
}
