import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_GLIBC_TUNABLES, DAEMON_NODE_ARGS, daemonLaunchEnv, firstLine, shebangNodeArgs } from './launch-env';

const repo = path.resolve(__dirname, '..', '..', '..');
// `crio` run as a command (npm's bin link) gets them from its shebang, the operator's own last.
const NODE_ARGS = DAEMON_NODE_ARGS.join(' ');
const SHEBANG = `#!/usr/bin/env -S GLIBC_TUNABLES=${DAEMON_GLIBC_TUNABLES}:\${GLIBC_TUNABLES} node ${NODE_ARGS}\n`;

// Every launcher of the daemon sets the same tunables (they only work from the process's start).
const launchers: { file: string; line: string }[] = [
  { file: 'contrib/systemd/crio.service', line: `Environment=GLIBC_TUNABLES=${DAEMON_GLIBC_TUNABLES}` },
  { file: 'scripts/setup.sh', line: `GLIBC_TUNABLES=${DAEMON_GLIBC_TUNABLES} exec node ${NODE_ARGS} build/cmd/crio.js` },
  { file: 'cmd/crio.ts', line: SHEBANG },
];

for (const l of launchers) {
  test(`${l.file} starts the daemon with the malloc tunables and node flags`, () => {
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
function runShebang(env: NodeJS.ProcessEnv, script = 'process.stdout.write(process.env.GLIBC_TUNABLES ?? "")'): string {
  const first = readFileSync(path.join(repo, 'build', 'cmd', 'crio.js'), 'utf8').split('\n')[0] ?? '';
  assert.equal(`${first}\n`, SHEBANG, 'the bundle keeps the shebang of cmd/crio.ts');
  const [interpreter = '', rest = ''] = first.slice(2).split(/ (.*)/s);
  const r = spawnSync(interpreter, [rest, '-e', script], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('the shebang of build/cmd/crio.js starts node with the tunables', () => {
  const { GLIBC_TUNABLES: _, ...env } = process.env;
  assert.equal(runShebang(env), `${DAEMON_GLIBC_TUNABLES}:`);
});

test('the shebang of build/cmd/crio.js starts node with the node flags, which this node accepts', () => {
  assert.deepEqual(runShebang(process.env, 'process.stdout.write(JSON.stringify(process.execArgv.slice(0, -2)))'), JSON.stringify(DAEMON_NODE_ARGS));
});

test('the shebang of build/cmd/crio.js exposes gc (lib/memory-upkeep.ts collects with it)', () => {
  assert.equal(runShebang(process.env, 'process.stdout.write(typeof gc)'), 'function');
});

test('the test harness reads the node flags from the shebang of the script it starts', () => {
  assert.deepEqual(shebangNodeArgs(firstLine(path.join(repo, 'build', 'cmd', 'crio.js'))), DAEMON_NODE_ARGS);
});

const shebangCases: { line: string; want: string[] }[] = [
  { line: '#!/usr/bin/env -S A=1:${A} node --x --y=2', want: ['--x', '--y=2'] },
  { line: '#!/usr/bin/env -S A=1 B=2 node', want: [] },
  { line: '#!/usr/bin/env node', want: [] },
  { line: '#!/usr/bin/env -S A=1 python3 --x', want: [] },
  { line: '"use strict";', want: [] },
];
for (const c of shebangCases) {
  test(`shebangNodeArgs: ${c.line}`, () => assert.deepEqual(shebangNodeArgs(c.line), c.want));
}

// What the flag is for (launch-env.ts): V8 takes the zone from the C library, not ICU's names.
test('--no-icu-timezone-data: same offsets and local fields, zone name from the C library', () => {
  const script = 'const d = new Date(1690000000000); process.stdout.write(JSON.stringify([d.getTimezoneOffset(), d.getHours(), d.toUTCString(), d.toString()]))';
  const run = (args: readonly string[]): [number, number, string, string] => {
    const r = spawnSync(process.execPath, [...args, '-e', script], { env: { ...process.env, TZ: 'Europe/Berlin' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as [number, number, string, string];
  };
  const [icu, libc] = [run([]), run(DAEMON_NODE_ARGS)];
  assert.deepEqual(libc.slice(0, 3), icu.slice(0, 3));
  assert.match(icu[3], /\(Central European Summer Time\)$/);
  assert.match(libc[3], /\(CEST\)$/);
});

test("the shebang puts an operator's GLIBC_TUNABLES last (glibc: the last setting wins)", () => {
  assert.equal(runShebang({ ...process.env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' }), `${DAEMON_GLIBC_TUNABLES}:glibc.malloc.arena_max=1`);
});
