import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { type ExecProcessOptions, buildExecProcess } from './exec-process';
import type { SpecProcess } from './spec-input';

const container: SpecProcess = {
  terminal: true,
  consoleSize: { height: 10, width: 10 },
  user: { uid: 1000, gid: 1000, additionalGids: [1000, 5] },
  args: ['/app'],
  env: ['PATH=/bin', 'A=1'],
  cwd: '/work',
  capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], inheritable: [], ambient: [] },
  noNewPrivileges: true,
  apparmorProfile: 'crio-default',
};

const cases: { name: string; options: ExecProcessOptions; check: (p: SpecProcess) => void }[] = [
  {
    name: 'copies the container process and replaces args; terminal off by default',
    options: { cmd: ['echo', 'hi'] },
    check: (p) => {
      assert.deepEqual(p.args, ['echo', 'hi']);
      assert.equal(p.terminal, false);
      assert.equal(p.consoleSize, undefined);
      assert.deepEqual([p.env, p.cwd, p.user, p.capabilities, p.noNewPrivileges, p.apparmorProfile], [container.env, '/work', container.user, container.capabilities, true, 'crio-default']);
    },
  },
  { name: 'tty on request', options: { cmd: ['sh'], tty: true }, check: (p) => assert.equal(p.terminal, true) },
  { name: 'env overrides by key', options: { cmd: ['x'], env: ['A=2', 'B=3'] }, check: (p) => assert.deepEqual(p.env, ['PATH=/bin', 'A=2', 'B=3']) },
  { name: 'cwd override', options: { cmd: ['x'], cwd: '/tmp' }, check: (p) => assert.equal(p.cwd, '/tmp') },
  { name: 'user override', options: { cmd: ['x'], user: { uid: 0, gid: 0 } }, check: (p) => assert.deepEqual(p.user, { uid: 0, gid: 0, additionalGids: [0] }) },
];
for (const c of cases) {
  test(`buildExecProcess: ${c.name}`, () => {
    c.check(buildExecProcess(container, c.options));
    assert.deepEqual(container.args, ['/app'], 'input not mutated');
  });
}

test('buildExecProcess rejects an empty command', () => assert.throws(() => buildExecProcess(container, { cmd: [] }), InvalidArgumentError));
