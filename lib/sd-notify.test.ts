import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DgramSocket } from 'node-unix-socket';
import { nullLogger } from './log';
import { Notifier } from './sd-notify';

/** A NOTIFY_SOCKET as systemd makes it: a unix datagram socket the test reads. */
function listener(): { path: string; next: () => Promise<string>; close: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sd-notify-'));
  const sock = path.join(dir, 'notify');
  const socket = new DgramSocket();
  const queue: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  socket.on('data', (buf: Buffer) => {
    const w = waiters.shift();
    if (w) w(buf.toString());
    else queue.push(buf.toString());
  });
  socket.bind(sock);
  return {
    path: sock,
    next: () => {
      const q = queue.shift();
      return q !== undefined ? Promise.resolve(q) : new Promise((resolve) => waiters.push(resolve));
    },
    close: () => {
      socket.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('READY=1 and STOPPING=1 arrive as datagrams on NOTIFY_SOCKET', async () => {
  const l = listener();
  const n = new Notifier(nullLogger(), { NOTIFY_SOCKET: l.path });
  try {
    await n.notify('READY=1');
    assert.equal(await l.next(), 'READY=1');
    await n.notify('STOPPING=1');
    assert.equal(await l.next(), 'STOPPING=1');
  } finally {
    n.close();
    l.close();
  }
});

test('without NOTIFY_SOCKET nothing is sent and no watchdog runs', async () => {
  const n = new Notifier(nullLogger(), {});
  assert.equal(n.enabled, false);
  await n.notify('READY=1');
  assert.equal(n.watchdogIntervalMs(), 0);
});

test('watchdog: half of WATCHDOG_USEC; only for the PID named; too short is refused', () => {
  const env = { NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '60000000' };
  assert.equal(new Notifier(nullLogger(), env).watchdogIntervalMs(), 30_000);
  assert.equal(new Notifier(nullLogger(), { ...env, WATCHDOG_PID: String(process.pid) }).watchdogIntervalMs(), 30_000);
  assert.equal(new Notifier(nullLogger(), { ...env, WATCHDOG_PID: '1' }).watchdogIntervalMs(), 0);
  assert.throws(() => new Notifier(nullLogger(), { ...env, WATCHDOG_USEC: '1000000' }).watchdogIntervalMs(), /should be more than 1000 ms/);
});

test('watchdog pings WATCHDOG=1 while healthy and stops pinging when not', async () => {
  const l = listener();
  let healthy = true;
  const checks: number[] = [];
  const n = new Notifier(nullLogger(), { NOTIFY_SOCKET: l.path, WATCHDOG_USEC: '2200000' });
  try {
    n.startWatchdog(async (timeoutMs) => {
      checks.push(timeoutMs);
      return healthy;
    });
    assert.equal(await l.next(), 'WATCHDOG=1');
    assert.equal(checks[0], 1100);
    healthy = false;
    const before = checks.length;
    // Wait for two unhealthy checks: no datagram may arrive meanwhile.
    while (checks.length < before + 2) await new Promise((r) => setTimeout(r, 100));
    healthy = true;
    assert.equal(await l.next(), 'WATCHDOG=1');
  } finally {
    n.close();
    l.close();
  }
});

test('a send failure is logged, not thrown', async () => {
  const warnings: string[] = [];
  const log = { ...nullLogger(), warn: (m: string) => void warnings.push(m) };
  const n = new Notifier(log, { NOTIFY_SOCKET: '/nonexistent/notify' });
  await n.notify('READY=1');
  n.close();
  assert.deepEqual(warnings, ['systemd notification failed']);
});

test('notifying loads neither node-unix-socket nor worker_threads (issue 17: +2.0 MiB under systemd)', async () => {
  const l = listener();
  try {
    const script = `
      const { Notifier } = require(${JSON.stringify(path.join(__dirname, 'sd-notify.js'))});
      const log = { debug() {}, info() {}, warn(m, f) { console.error(m, JSON.stringify(f)); }, error() {} };
      new Notifier(log, { NOTIFY_SOCKET: ${JSON.stringify(l.path)} }).notify('READY=1').then(() => {
        const loaded = [...Object.keys(require.cache), ...process.moduleLoadList];
        process.stdout.write(JSON.stringify(loaded.filter((m) => /node-unix-socket|worker_threads/.test(m))));
      });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout), []);
    assert.equal(await l.next(), 'READY=1');
  } finally {
    l.close();
  }
});
