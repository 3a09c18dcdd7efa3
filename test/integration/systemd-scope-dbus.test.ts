import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InternalError } from '../../lib/errors';
import { conmonScopeName } from '../../lib/oci/cgroup-systemd';
import { moveToTransientScope } from '../../lib/oci/systemd-scope';
import { findExecutable } from '../../lib/process';

/**
 * This host has no systemd as init, so nothing can create the scope. What can be proven is the
 * D-Bus message: busctl, given our argv, talks to a private dbus-daemon that a `busctl monitor`
 * watches, and the decoded StartTransientUnit call must carry exactly CRI-O's properties.
 */

const BUS_CONFIG = (socket: string): string => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`;

/** Resolves with the first chunk of `stream` output matching `re` (the process signals readiness there). */
function waitFor(child: ChildProcessWithoutNullStreams, stream: 'stdout' | 'stderr', re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (b: Buffer): void => {
      buf += b.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        child[stream].off('data', onData);
        resolve(m[0]);
      }
    };
    child[stream].on('data', onData);
    child.once('exit', (code) => reject(new Error(`${child.spawnfile} exited with ${code} before printing ${re}: ${buf}`)));
  });
}

interface MonitoredCall {
  member: string;
  destination: string;
  payload: { type: string; data: unknown };
}

describe('systemd scope over D-Bus (private bus, no systemd)', async () => {
  const dbusDaemon = await findExecutable('dbus-daemon');
  const busctl = await findExecutable('busctl');
  let tmp = '';
  const started: ChildProcessWithoutNullStreams[] = [];
  let address = '';
  let monitor: ChildProcessWithoutNullStreams | undefined;

  before(async () => {
    // scripts/setup.sh test installs both (packages dbus-daemon and systemd); missing ones are a failure, not a skip.
    assert.ok(dbusDaemon !== undefined && busctl !== undefined, 'dbus-daemon and busctl are needed: apt-get install dbus-daemon systemd');
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-dbus-'));
    const socket = path.join(tmp, 'bus.sock');
    await fs.writeFile(path.join(tmp, 'bus.conf'), BUS_CONFIG(socket));
    const daemon = spawn(dbusDaemon as string, [`--config-file=${path.join(tmp, 'bus.conf')}`, '--nofork', '--print-address']);
    started.push(daemon);
    address = (await waitFor(daemon, 'stdout', /unix:\S+/)).trim();
    monitor = spawn(busctl as string, [`--address=${address}`, 'monitor', '--json=short']);
    started.push(monitor);
    await waitFor(monitor, 'stderr', /Monitoring bus message stream/);
  });

  after(async () => {
    // Only the processes this test started, newest first.
    for (const child of started.reverse()) {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
    }
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  test('StartTransientUnit carries the conmon scope, its slice and CRI-O properties', async () => {
    const unit = conmonScopeName('c0ffee');
    const seen = waitFor(monitor as ChildProcessWithoutNullStreams, 'stdout', /\{[^\n]*"member":"StartTransientUnit"[^\n]*\}\n/);
    await assert.rejects(
      moveToTransientScope({ pid: process.pid, unit, slice: 'kubepods-besteffort-pod1.slice', after: 'crio.service', busAddress: address, signal: new AbortController().signal }),
      (err: unknown) => {
        // Nobody owns org.freedesktop.systemd1 on this bus: the failure names the unit and busctl's reason.
        assert.ok(err instanceof InternalError, String(err));
        assert.match(err.message, /^cannot create systemd scope crio-conmon-c0ffee\.scope in kubepods-besteffort-pod1\.slice for pid \d+: .*org\.freedesktop\.systemd1/);
        return true;
      },
    );
    const call = JSON.parse(await seen) as MonitoredCall;
    assert.equal(call.destination, 'org.freedesktop.systemd1');
    assert.deepEqual(call.payload, {
      type: 'ssa(sv)a(sa(sv))',
      data: [
        unit,
        'replace',
        [
          ['PIDs', { type: 'au', data: [process.pid] }],
          ['Delegate', { type: 'b', data: true }],
          ['DefaultDependencies', { type: 'b', data: false }],
          ['Slice', { type: 's', data: 'kubepods-besteffort-pod1.slice' }],
          ['KillSignal', { type: 'i', data: 13 }],
          ['CollectMode', { type: 's', data: 'inactive-or-failed' }],
          ['After', { type: 'as', data: ['crio.service'] }],
        ],
        [],
      ],
    });
  });
});
