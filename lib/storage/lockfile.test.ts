import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LockFile, TOKEN_SIZE } from './lockfile';

let tmp = '';
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-lockfile-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** Another process holding `file` locked (through this module) until its stdin closes. */
async function holdElsewhere(file: string, exclusive: boolean): Promise<{ release: () => Promise<void> }> {
  const script = `
    const { LockFile } = require(${JSON.stringify(path.join(__dirname, 'lockfile.js'))});
    const l = new LockFile(${JSON.stringify(file)});
    (${exclusive} ? l.lock() : l.rlock()).then(() => { if (${exclusive}) l.touch(); process.stdout.write('held\\n'); });
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return {
    release: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

test('an exclusive lock waits for another process to let go, then sees its token', async () => {
  const file = path.join(tmp, 'a.lock');
  const mine = new LockFile(file);
  await mine.withRLock(() => assert.equal(mine.modified(), true, 'a fresh holder has seen no token yet'));
  const other = await holdElsewhere(file, true);
  let got = false;
  const waiting = mine.lock().then(() => (got = true));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(got, false, 'blocked while the other process holds it');
  await other.release();
  await waiting;
  assert.equal(mine.modified(), true, 'the other writer touched it');
  assert.equal(mine.modified(), false, 'no change since');
  mine.touch();
  assert.equal(mine.modified(), false, 'our own touch is not a change');
  mine.unlock();
  assert.equal((await fs.readFile(file)).length, TOKEN_SIZE);
});

test('shared locks coexist across processes; a writer waits for every reader', async () => {
  const file = path.join(tmp, 'b.lock');
  const reader = await holdElsewhere(file, false);
  const mine = new LockFile(file);
  await mine.rlock();
  mine.unlock();
  let wrote = false;
  const w = mine.withLock(() => (wrote = true));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(wrote, false);
  await reader.release();
  await w;
  assert.equal(wrote, true);
});

test('in one process: readers share, a writer excludes, waiters are served in order', async () => {
  const l = new LockFile(path.join(tmp, 'c.lock'));
  const events: string[] = [];
  await l.rlock();
  await l.rlock();
  const w = l.withLock(() => events.push('writer'));
  const r3 = l.withRLock(() => events.push('late reader')); // queued behind the writer
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(events, []);
  l.unlock();
  l.unlock();
  await Promise.all([w, r3]);
  assert.deepEqual(events, ['writer', 'late reader']);
  assert.throws(() => l.touch(), /without the write lock/);
  assert.throws(() => l.unlock(), /not held/);
});

test('a read-only lock file refuses a write lock', async () => {
  const file = path.join(tmp, 'd.lock');
  await fs.writeFile(file, '');
  await assert.rejects(new LockFile(file, true).lock(), /read-only/);
  await new LockFile(file, true).withRLock(() => undefined);
});
