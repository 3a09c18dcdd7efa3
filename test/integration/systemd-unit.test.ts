import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

/**
 * contrib/systemd: the units `scripts/setup.sh install` installs pass `systemd-analyze verify`
 * (with ExecStart pointing at this checkout's crio, as the installer rewrites it), and keep the
 * settings the daemon's behaviour depends on. The notify protocol itself is tested in
 * lib/sd-notify.test.ts and operate.test.ts against a NOTIFY_SOCKET listener.
 */

const ROOT = path.resolve(__dirname, '..', '..', '..');
const UNITS = ['crio.service', 'crio-wipe.service'];

test('the units pass systemd-analyze verify', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'crio-ts-units-'));
  try {
    const crio = path.join(dir, 'crio');
    writeFileSync(crio, `#!/bin/sh\nexec ${process.execPath} ${path.join(ROOT, 'build', 'cmd', 'crio.js')} "$@"\n`);
    chmodSync(crio, 0o755);
    for (const u of UNITS) writeFileSync(path.join(dir, u), readFileSync(path.join(ROOT, 'contrib', 'systemd', u), 'utf8').replaceAll('/usr/local/bin/crio', crio));
    const r = spawnSync('systemd-analyze', ['verify', ...UNITS.map((u) => path.join(dir, u))], { encoding: 'utf8' });
    assert.equal(r.error, undefined, 'systemd-analyze missing (apt-get install systemd)');
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal((r.stderr + r.stdout).trim(), '', 'no warnings');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('crio.service: Type=notify with a watchdog, reload by SIGHUP, containers survive a restart', () => {
  const unit = readFileSync(path.join(ROOT, 'contrib', 'systemd', 'crio.service'), 'utf8');
  for (const line of ['Type=notify', 'ExecReload=/bin/kill -s HUP $MAINPID', 'KillMode=process', 'WatchdogSec=60s', 'Before=kubelet.service']) {
    assert.match(unit, new RegExp(`^${line.replace(/[$/]/g, '\\$&')}$`, 'm'), line);
  }
  const wipe = readFileSync(path.join(ROOT, 'contrib', 'systemd', 'crio-wipe.service'), 'utf8');
  assert.match(wipe, /^Before=crio\.service$/m);
  assert.match(wipe, /^\s+wipe$/m);
});
