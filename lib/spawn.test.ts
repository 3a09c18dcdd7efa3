import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { spawn, spawnBackend, type SpawnedChild } from './spawn';

/** Everything a child wrote on a readable end, once it closes. */
async function collect(stream: Readable | null): Promise<string> {
  assert.ok(stream);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** exit's and close's arguments, in the order they came. */
function events(child: SpawnedChild): Promise<string[]> {
  const seen: string[] = [];
  child.on('exit', (code, signal) => seen.push(`exit ${code} ${signal}`));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve([...seen, `close ${code} ${signal}`])));
}

test('the test build has the posix_spawn addon, on a kernel with pidfds (else the daemon falls back to fork)', () => {
  assert.equal(spawnBackend(), 'posix_spawn');
});

test('argv, env only as given, exit code, then exit before close (as Node)', async () => {
  const child = spawn('/bin/sh', ['-c', 'echo "$0|$1 [$FOO] [$HOME]"; echo err >&2; exit 7', 'zero', 'a b'], { stdio: ['ignore', 'pipe', 'pipe'], env: { FOO: 'bar', PATH: '/usr/bin:/bin' } });
  assert.ok(child.pid && child.pid > 0);
  const [out, err, seen] = await Promise.all([collect(child.stdout), collect(child.stderr), events(child)]);
  assert.equal(out, 'zero|a b [bar] []\n');
  assert.equal(err, 'err\n');
  assert.deepEqual(seen, ['exit 7 null', 'close 7 null']);
  assert.equal(child.exitCode, 7);
});

test('stdin pipe: what is written is read, end closes it', async () => {
  const child = spawn('/bin/cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  const out = collect(child.stdout);
  child.stdin.end('hello\n');
  assert.equal(await out, 'hello\n');
  assert.deepEqual(await once(child, 'close'), [0, null]);
});

test('descriptors 3 and 4 are pipes both ways (conmon sync and start pipes); nothing else leaks in', async () => {
  // The child lists its descriptors, then echoes one line from fd 4 to fd 3.
  const script = 'ls /proc/self/fd | sort -n | tr "\\n" " " >&3; read line <&4; echo "got $line" >&3';
  const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  const sync = collect(child.stdio[3] as Readable);
  (child.stdio[4] as NonNullable<SpawnedChild['stdio'][number]>).end('ping\n');
  // 0-4, the descriptor ls opens for /proc/self/fd, and whatever this test process inherited
  // without close-on-exec (a fork()ed child gets those too).
  const inheritable = readdirSync('/proc/self/fd').filter((fd) => {
    let flags: RegExpExecArray | null = null;
    try {
      flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    } catch {
      return false; // readdir's own descriptor, closed since
    }
    return flags !== null && (parseInt(flags[1] ?? '0', 8) & 0o2000000) === 0;
  });
  const text = await sync;
  const fds = text.split('got')[0]?.trim().split(' ') ?? [];
  for (const fd of ['0', '1', '2', '3', '4']) assert.ok(fds.includes(fd), `descriptor ${fd} missing: ${text}`);
  const extra = fds.filter((fd) => !['0', '1', '2', '3', '4'].includes(fd) && !inheritable.includes(fd));
  assert.ok(extra.length <= 1, `unexpected descriptors in the child: ${text} (inheritable here: ${inheritable.join(' ')})`);
  assert.match(text, /got ping\n$/);
  await once(child, 'close');
});

test('ignore is /dev/null; cwd; detached gets its own session', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spawn-test-'));
  try {
    const child = spawn('/bin/sh', ['-c', 'readlink /proc/self/fd/0; pwd; cut -d" " -f6 /proc/self/stat; echo $$'], { stdio: ['ignore', 'pipe', 'ignore'], cwd: dir, detached: true });
    const [devnull, cwd, session, pid] = (await collect(child.stdout)).trim().split('\n');
    assert.equal(devnull, '/dev/null');
    assert.equal(cwd, dir);
    assert.equal(session, pid, 'a detached child leads its own session');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signals: default dispositions and an empty mask in the child (Node ignores SIGPIPE); kill reports the signal', async () => {
  const child = spawn('/bin/sh', ['-c', 'grep -E "^Sig(Blk|Ign)" /proc/self/status; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: string[] = [];
  child.stdout.on('data', (b: Buffer) => lines.push(b.toString('utf8')));
  while (!lines.join('').includes('SigIgn')) await new Promise((r) => setTimeout(r, 10));
  assert.match(lines.join(''), /SigBlk:\s+0+\n/);
  assert.match(lines.join(''), /SigIgn:\s+0+\n/);
  assert.equal(child.kill('SIGTERM'), true);
  assert.deepEqual(await once(child, 'exit'), [null, 'SIGTERM']);
  assert.equal(child.signalCode, 'SIGTERM');
  assert.equal(child.kill('SIGTERM'), false, 'no signal to a reaped child');
});

test('a missing program: error with ENOENT and the path (as Node), then close, no exit', async () => {
  const child = spawn('/nonexistent/prog', ['x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: string[] = [];
  child.on('exit', () => seen.push('exit'));
  const [err] = (await once(child, 'error')) as [NodeJS.ErrnoException & { path?: string; spawnargs?: string[] }];
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.syscall, 'spawn /nonexistent/prog');
  assert.equal(err.path, '/nonexistent/prog');
  assert.deepEqual(err.spawnargs, ['x']);
  await once(child, 'close');
  assert.deepEqual(seen, []);
  assert.equal(child.pid, undefined);
});

test('a name without a slash is looked up in the child PATH', async () => {
  const child = spawn('true', [], { stdio: ['ignore', 'ignore', 'ignore'], env: { PATH: '/nonexistent:/bin' } });
  assert.deepEqual(await once(child, 'close'), [0, null]);
});

test('children are reaped: no zombie and no descriptor left after many spawns', async () => {
  const fdsBefore = spawnSync('ls', [`/proc/${process.pid}/fd`]).stdout.toString().trim().split('\n').length;
  const pids: number[] = [];
  for (let i = 0; i < 50; i++) {
    const child = spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
    pids.push(child.pid ?? 0);
    await once(child, 'close');
  }
  const fdsAfter = spawnSync('ls', [`/proc/${process.pid}/fd`]).stdout.toString().trim().split('\n').length;
  assert.ok(fdsAfter <= fdsBefore + 1, `descriptors ${fdsBefore} → ${fdsAfter}`);
  for (const pid of pids) assert.throws(() => readlinkSync(`/proc/${pid}/exe`), /ENOENT/);
});

test('an exception thrown by an exit listener is uncaught, as with Node spawn (not swallowed by the addon)', async () => {
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  try {
    const caught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    const child = spawn('/bin/true', [], { stdio: ['ignore', 'ignore', 'ignore'] });
    child.on('exit', () => {
      throw new Error('listener failed');
    });
    assert.match(String(await caught), /listener failed/);
  } finally {
    for (const l of listeners) process.on('uncaughtException', l);
  }
});
