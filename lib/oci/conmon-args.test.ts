import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConmonArgsOptions, buildConmonArgs, conmonLogLevel, parseConmonSyncMessage } from './conmon-args';

const base: ConmonArgsOptions = {
  containerId: 'abc',
  name: 'k8s_c_p_ns_uid_0',
  runtimePath: '/usr/sbin/runc',
  runtimeRoot: '/run/runc',
  bundleDir: '/run/crio/b/abc',
  logPath: '/var/log/pods/x/c/0.log',
  exitsDir: '/run/crio/exits',
  persistDir: '/run/crio/c/abc',
  socketDir: '/run/crio',
  logLevel: 'info',
  terminal: false,
  stdin: false,
  stdinOnce: false,
};

/** The value following `flag` in argv. */
const valueOf = (argv: string[], flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
};

const cases: { name: string; input: Partial<ConmonArgsOptions>; has: string[]; lacks: string[]; values?: Record<string, string> }[] = [
  {
    name: 'plain container',
    input: {},
    has: ['--full-attach'],
    lacks: ['-t', '-i', '--leave-stdin-open', '--log-size-max', '--syslog', '--systemd-cgroup', '-s'],
    values: {
      '--api-version': '1',
      '-c': 'abc',
      '-u': 'abc',
      '-n': 'k8s_c_p_ns_uid_0',
      '-r': '/usr/sbin/runc',
      '-b': '/run/crio/b/abc',
      '-p': '/run/crio/b/abc/pidfile',
      '-P': '/run/crio/b/abc/conmon-pidfile',
      '-l': 'k8s-file:/var/log/pods/x/c/0.log',
      '--exit-dir': '/run/crio/exits',
      '--persist-dir': '/run/crio/c/abc',
      '--socket-dir-path': '/run/crio',
      '--log-level': 'info',
      '--runtime-arg': '--root=/run/runc',
    },
  },
  { name: 'terminal wins over stdin', input: { terminal: true, stdin: true }, has: ['-t'], lacks: ['-i', '--leave-stdin-open'] },
  { name: 'stdin kept open', input: { stdin: true }, has: ['-i', '--leave-stdin-open'], lacks: ['-t'] },
  { name: 'stdin once', input: { stdin: true, stdinOnce: true }, has: ['-i'], lacks: ['--leave-stdin-open'] },
  { name: 'log size max', input: { logSizeMax: 1024 }, has: [], lacks: [], values: { '--log-size-max': '1024' } },
  { name: 'negative log size max = unlimited', input: { logSizeMax: -1 }, has: [], lacks: ['--log-size-max'] },
  { name: 'syslog', input: { syslog: true }, has: ['--syslog'], lacks: [] },
  { name: 'cgroupfs driver', input: { systemdCgroup: false }, has: [], lacks: ['--systemd-cgroup', '-s'] },
  {
    name: 'systemd driver: conmon flag, runc root unchanged',
    input: { systemdCgroup: true },
    has: ['--systemd-cgroup'],
    lacks: ['--runtime-arg=--systemd-cgroup'],
    values: { '--runtime-arg': '--root=/run/runc' },
  },
];

for (const c of cases) {
  test(`buildConmonArgs: ${c.name}`, () => {
    const argv = buildConmonArgs({ ...base, ...c.input });
    for (const flag of c.has) assert.ok(argv.includes(flag), `missing ${flag}`);
    for (const flag of c.lacks) assert.ok(!argv.includes(flag), `unexpected ${flag}`);
    for (const [flag, value] of Object.entries(c.values ?? {})) assert.equal(valueOf(argv, flag), value, flag);
  });
}

const levels: [string, string][] = [
  ['fatal', 'error'],
  ['panic', 'error'],
  ['error', 'error'],
  ['warning', 'warn'],
  ['info', 'info'],
  ['debug', 'debug'],
  ['trace', 'trace'],
];
for (const [input, want] of levels) test(`conmonLogLevel(${input})`, () => assert.equal(conmonLogLevel(input), want));

const sync: { line: string; want: ReturnType<typeof parseConmonSyncMessage> }[] = [
  { line: '{"data": 1234}', want: { value: 1234 } },
  { line: '{"pid": 99}', want: { value: 99 } },
  { line: '{"exit_code": 3}', want: { value: 3 } },
  { line: '{"exit_code": -1, "message": "command timed out"}', want: { value: -1, message: 'command timed out' } },
  { line: '{"data": -1, "message": "runc create failed: x"}', want: { value: -1, message: 'runc create failed: x' } },
  { line: 'not json', want: undefined },
  { line: '{"data": "x"}', want: undefined },
  { line: 'null', want: undefined },
];
for (const c of sync) test(`parseConmonSyncMessage(${c.line})`, () => assert.deepEqual(parseConmonSyncMessage(c.line), c.want));

test('buildConmonArgs: systemd asks conmon, not runc, for --systemd-cgroup (conmon passes it to runc create only)', () => {
  const argv = buildConmonArgs({ ...base, systemdCgroup: true });
  assert.equal(argv.filter((a) => a === '--systemd-cgroup').length, 1);
  const runtimeArgs = argv.flatMap((a, i) => (argv[i - 1] === '--runtime-arg' ? [a] : []));
  assert.deepEqual(runtimeArgs, ['--root=/run/runc']);
});
