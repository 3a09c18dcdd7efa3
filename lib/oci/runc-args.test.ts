import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isRuncNotFound,
  isRuncNotRunning,
  runcDeleteArgs,
  runcErrorMessage,
  runcExecArgs,
  runcGlobalArgs,
  runcKillArgs,
  runcStartArgs,
  runcStateArgs,
  runcUpdateArgs,
} from './runc-args';
import { parseRuncState, RuncError } from './runc';

const sd = { root: '/r', systemdCgroup: true };

const argv: { name: string; got: string[]; want: string[] }[] = [
  { name: 'state', got: runcStateArgs('/r', 'c1'), want: ['--root', '/r', 'state', 'c1'] },
  { name: 'start', got: runcStartArgs('/r', 'c1'), want: ['--root', '/r', 'start', 'c1'] },
  { name: 'kill by name', got: runcKillArgs('/r', 'c1', 'SIGTERM'), want: ['--root', '/r', 'kill', 'c1', 'TERM'] },
  { name: 'kill lower-case name', got: runcKillArgs('/r', 'c1', 'sigint'), want: ['--root', '/r', 'kill', 'c1', 'INT'] },
  { name: 'kill by number, all', got: runcKillArgs('/r', 'c1', 9, true), want: ['--root', '/r', 'kill', '--all', 'c1', '9'] },
  { name: 'delete', got: runcDeleteArgs('/r', 'c1', false), want: ['--root', '/r', 'delete', 'c1'] },
  { name: 'delete force', got: runcDeleteArgs('/r', 'c1', true), want: ['--root', '/r', 'delete', '--force', 'c1'] },
  { name: 'exec', got: runcExecArgs('/r', 'c1', '/p.json', '/p.pid'), want: ['--root', '/r', 'exec', '--process', '/p.json', '--pid-file', '/p.pid', 'c1'] },
  { name: 'global, bare root', got: runcGlobalArgs('/r'), want: ['--root', '/r'] },
  { name: 'global, cgroupfs', got: runcGlobalArgs({ root: '/r', systemdCgroup: false }), want: ['--root', '/r'] },
  { name: 'global, systemd', got: runcGlobalArgs({ root: '/r', systemdCgroup: true }), want: ['--root', '/r', '--systemd-cgroup'] },
  { name: 'state, systemd', got: runcStateArgs(sd, 'c1'), want: ['--root', '/r', '--systemd-cgroup', 'state', 'c1'] },
  { name: 'start, systemd', got: runcStartArgs(sd, 'c1'), want: ['--root', '/r', '--systemd-cgroup', 'start', 'c1'] },
  { name: 'kill, systemd', got: runcKillArgs(sd, 'c1', 'KILL', true), want: ['--root', '/r', '--systemd-cgroup', 'kill', '--all', 'c1', 'KILL'] },
  { name: 'delete, systemd', got: runcDeleteArgs(sd, 'c1', true), want: ['--root', '/r', '--systemd-cgroup', 'delete', '--force', 'c1'] },
  { name: 'update, systemd', got: runcUpdateArgs(sd, 'c1'), want: ['--root', '/r', '--systemd-cgroup', 'update', '--resources', '-', 'c1'] },
  { name: 'update, cgroupfs object', got: runcUpdateArgs({ root: '/r', systemdCgroup: false }, 'c1'), want: ['--root', '/r', 'update', '--resources', '-', 'c1'] },
  {
    name: 'exec, systemd',
    got: runcExecArgs(sd, 'c1', '/p.json', '/p.pid'),
    want: ['--root', '/r', '--systemd-cgroup', 'exec', '--process', '/p.json', '--pid-file', '/p.pid', 'c1'],
  },
];
for (const c of argv) test(`runc argv: ${c.name}`, () => assert.deepEqual(c.got, c.want));

const stderrs: { name: string; text: string; notFound: boolean; notRunning: boolean; message: string }[] = [
  { name: 'missing', text: 'time="2026-01-01T00:00:00Z" level=error msg="container does not exist"\n', notFound: true, notRunning: false, message: 'container does not exist' },
  { name: 'not running', text: 'time="x" level=error msg="container not running"\n', notFound: false, notRunning: true, message: 'container not running' },
  { name: 'escaped quotes', text: 'time="x" level=error msg="exec: \\"nope\\": not found"\n', notFound: false, notRunning: false, message: 'exec: "nope": not found' },
  { name: 'plain text', text: 'something odd\n', notFound: false, notRunning: false, message: 'something odd' },
];
for (const c of stderrs) {
  test(`runc stderr: ${c.name}`, () => {
    assert.equal(isRuncNotFound(c.text), c.notFound);
    assert.equal(isRuncNotRunning(c.text), c.notRunning);
    assert.equal(runcErrorMessage(c.text), c.message);
  });
}

test('parseRuncState', () => {
  assert.deepEqual(parseRuncState('{"ociVersion":"1.0.2-dev","id":"c","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs"}'), { status: 'running', pid: 42, bundle: '/b' });
  assert.throws(() => parseRuncState('{"status":"weird","pid":1,"bundle":"/b"}'));
  assert.throws(() => parseRuncState('nope'));
});

const errors: { name: string; argv: string[]; want: string }[] = [
  { name: 'cgroupfs', argv: runcStartArgs('/r', 'c1'), want: 'runc start c1 failed (exit 1): boom' },
  { name: 'systemd', argv: runcStartArgs(sd, 'c1'), want: 'runc start c1 failed (exit 1): boom' },
];
for (const c of errors) {
  test(`RuncError message leaves out global flags: ${c.name}`, () => assert.equal(new RuncError(c.argv, 1, 'boom\n').message, c.want));
}
