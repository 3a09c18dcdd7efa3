import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ConmonExecArgsOptions, buildConmonExecArgs, parseK8sFileLog } from './conmon-exec';

const base: ConmonExecArgsOptions = {
  containerId: 'c1',
  runtimePath: '/usr/sbin/runc',
  runtimeRoot: '/run/runc',
  pidFile: '/run/c/c1/exec.pid',
  logPath: '/run/c/c1/exec.log',
  processFile: '/run/c/c1/exec.json',
  logLevel: 'info',
  timeoutSec: 0,
  terminal: true,
  maxOutputBytes: 16 * 1024 * 1024,
};

const argCases: { name: string; input: Partial<ConmonExecArgsOptions>; want: string[] }[] = [
  {
    name: 'terminal, no timeout',
    input: {},
    want: ['-c', 'c1', '-n', 'c1', '-r', '/usr/sbin/runc', '-p', '/run/c/c1/exec.pid', '-e', '-l', 'k8s-file:/run/c/c1/exec.log', '--log-level', 'info', '--sync', '--log-global-size-max', '16777216', '-t', '--exec-process-spec', '/run/c/c1/exec.json', '--runtime-arg', '--root=/run/runc'],
  },
  {
    name: 'timeout, no terminal',
    input: { timeoutSec: 5, terminal: false },
    want: ['-c', 'c1', '-n', 'c1', '-r', '/usr/sbin/runc', '-p', '/run/c/c1/exec.pid', '-e', '-l', 'k8s-file:/run/c/c1/exec.log', '--log-level', 'info', '--sync', '--log-global-size-max', '16777216', '-T', '5', '--exec-process-spec', '/run/c/c1/exec.json', '--runtime-arg', '--root=/run/runc'],
  },
];
for (const c of argCases) test(`buildConmonExecArgs: ${c.name}`, () => assert.deepEqual(buildConmonExecArgs({ ...base, ...c.input }), c.want));

const logCases: { name: string; log: string; stdout: string; stderr: string }[] = [
  { name: 'empty', log: '', stdout: '', stderr: '' },
  { name: 'full lines keep their newline', log: '2026-01-01T00:00:00.1Z stdout F hi\n2026-01-01T00:00:00.2Z stderr F oops\n', stdout: 'hi\n', stderr: 'oops\n' },
  { name: 'partial lines are joined', log: 't stdout P abc\nt stdout F def\n', stdout: 'abcdef\n', stderr: '' },
  { name: 'spaces in content survive', log: 't stdout F a b  c\n', stdout: 'a b  c\n', stderr: '' },
  { name: 'malformed and unknown-stream lines are skipped', log: 'garbage\nt other F x\nt stdout F ok\n', stdout: 'ok\n', stderr: '' },
  { name: 'last line without newline', log: 't stdout P tail', stdout: 'tail', stderr: '' },
];
for (const c of logCases) {
  test(`parseK8sFileLog: ${c.name}`, () => {
    const got = parseK8sFileLog(Buffer.from(c.log));
    assert.deepEqual({ stdout: got.stdout.toString(), stderr: got.stderr.toString() }, { stdout: c.stdout, stderr: c.stderr });
  });
}
