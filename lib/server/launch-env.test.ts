import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_GLIBC_TUNABLES, daemonLaunchEnv } from './launch-env';

const repo = path.resolve(__dirname, '..', '..', '..');
// `crio` run as a command (npm's bin link) gets them from its shebang, the operator's own last.
const SHEBANG = `#!/usr/bin/env -S GLIBC_TUNABLES=${DAEMON_GLIBC_TUNABLES}:\${GLIBC_TUNABLES} node\n`;

// Every launcher of the daemon sets the same tunables (they only work from the process's start).
const launchers: { file: string; line: string }[] = [
  { file: 'contrib/systemd/crio.service', line: `Environment=GLIBC_TUNABLES=${DAEMON_GLIBC_TUNABLES}` },
  { file: 'scripts/setup.sh', line: `GLIBC_TUNABLES=${DAEMON_GLIBC_TUNABLES} exec node build/cmd/crio.js` },
  { file: 'cmd/crio.ts', line: SHEBANG },
];

for (const l of launchers) {
  test(`${l.file} starts the daemon with the malloc tunables`, () => {
    assert.ok(readFileSync(path.join(repo, l.file), 'utf8').includes(l.line), `${l.file} lacks: ${l.line}`);
  });
}

const envCases: { name: string; env: NodeJS.ProcessEnv; want: Record<string, string> }[] = [
  { name: 'unset: ours', env: {}, want: { GLIBC_TUNABLES: DAEMON_GLIBC_TUNABLES } },
  { name: "the operator's own wins", env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }, want: {} },
];
for (const c of envCases) {
  test(`daemonLaunchEnv: ${c.name}`, () => assert.deepEqual(daemonLaunchEnv(c.env), c.want));
}

test('glibc accepts the tunables (a node started with them runs)', () => {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(process.env.GLIBC_TUNABLES ?? "")'], { env: { ...process.env, GLIBC_TUNABLES: DAEMON_GLIBC_TUNABLES }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, DAEMON_GLIBC_TUNABLES);
});

// The kernel runs a script as `<interpreter> <the rest of the line as one argument> <script> <args>`.
function runShebang(env: NodeJS.ProcessEnv): string {
  const first = readFileSync(path.join(repo, 'build', 'cmd', 'crio.js'), 'utf8').split('\n')[0] ?? '';
  assert.equal(`${first}\n`, SHEBANG, 'the bundle keeps the shebang of cmd/crio.ts');
  const [interpreter = '', rest = ''] = first.slice(2).split(/ (.*)/s);
  const r = spawnSync(interpreter, [rest, '-e', 'process.stdout.write(process.env.GLIBC_TUNABLES ?? "")'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('the shebang of build/cmd/crio.js starts node with the tunables', () => {
  const { GLIBC_TUNABLES: _, ...env } = process.env;
  assert.equal(runShebang(env), `${DAEMON_GLIBC_TUNABLES}:`);
});

test("the shebang puts an operator's GLIBC_TUNABLES last (glibc: the last setting wins)", () => {
  assert.equal(runShebang({ ...process.env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }), `${DAEMON_GLIBC_TUNABLES}:glibc.malloc.arena_max=1`);
});
