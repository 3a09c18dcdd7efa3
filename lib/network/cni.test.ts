import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { backgroundContext } from '../context';
import { UnavailableError } from '../errors';
import { nullLogger } from '../log';
import { pathExists } from '../fsutil';
import { CniManager, isNetnsMount, NETWORK_NOT_READY_REASON, type CniPodRequest } from './cni';

/*
 * CniManager against fake plugins (shell scripts) that log every call: order of ADD/DEL,
 * prevResult chaining, rollback and the on-disk cache, without root or real networking.
 */

let tmp = '';
let netDir = '';
let binDir = '';
let logFile = '';
const ctx = backgroundContext(nullLogger());

function fakePlugin(kind: 'ok' | 'fail' | 'fail-del', ip: string): string {
  // Logs "CMD name netns ifname <stdin>"; ADD answers prevResult plus one more IP.
  return `#!/bin/sh
in=$(cat)
printf '%s %s [%s] %s %s\\n' "$CNI_COMMAND" "$(basename "$0")" "$CNI_NETNS" "$CNI_IFNAME" "$in" >> '${logFile}'
${kind === 'fail-del' ? `[ "$CNI_COMMAND" = DEL ] && { echo '{"code":11,"msg":"cannot delete"}'; exit 1; }` : ''}
[ "$CNI_COMMAND" = ADD ] || exit 0
${kind === 'fail' ? `echo '{"code":100,"msg":"boom"}'; exit 1` : `printf '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"address":"${ip}/24","interface":0}]}' "$CNI_NETNS"`}
`;
}

async function calls(): Promise<{ cmd: string; plugin: string; netns: string; ifname: string; stdin: Record<string, unknown> }[]> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^(\S+) (\S+) \[(.*?)\] (\S+) (.*)$/.exec(l);
      assert.ok(m, l);
      return { cmd: m[1], plugin: m[2], netns: m[3], ifname: m[4], stdin: JSON.parse(m[5]) as Record<string, unknown> };
    });
}

function manager(dir = netDir, isNetns: ((p: string) => Promise<boolean>) | undefined = pathExists): CniManager {
  return new CniManager({
    networkDir: dir,
    pluginDirs: [binDir],
    cacheDir: path.join(tmp, 'cache'),
    defaultNetwork: '',
    // The fake netns is a plain file; the real check wants an nsfs mount.
    isNetns,
    log: nullLogger(),
  });
}

async function writeNet(file: string, name: string, types: string[], dir = netDir): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, file), JSON.stringify({ cniVersion: '1.0.0', name, plugins: types.map((type) => ({ type })) }));
}

let netns = '';
function pod(): CniPodRequest {
  return { podSandboxId: 'pod1', name: 'web', namespace: 'default', uid: 'u1', netnsPath: netns };
}

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-cni-'));
  netDir = path.join(tmp, 'net.d');
  binDir = path.join(tmp, 'bin');
  logFile = path.join(tmp, 'calls.log');
  netns = path.join(tmp, 'netns-pod1');
  await fs.writeFile(netns, '');
  await fs.mkdir(binDir);
  await fs.writeFile(path.join(binDir, 'loopback'), fakePlugin('ok', '127.0.0.1'), { mode: 0o755 });
  await fs.writeFile(path.join(binDir, 'p1'), fakePlugin('ok', '10.1.0.2'), { mode: 0o755 });
  await fs.writeFile(path.join(binDir, 'p2'), fakePlugin('ok', '10.2.0.2'), { mode: 0o755 });
  await fs.writeFile(path.join(binDir, 'bad'), fakePlugin('fail', ''), { mode: 0o755 });
  await fs.writeFile(path.join(binDir, 'baddel'), fakePlugin('fail-del', '10.3.0.2'), { mode: 0o755 });
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

test('status: not ready before any config, with the CRI-O reason', async () => {
  const m = manager();
  const st = await m.reload();
  assert.equal(st.ready, false);
  assert.equal(st.reason, NETWORK_NOT_READY_REASON);
  assert.match(st.message ?? '', /^Network plugin returns error: No CNI configuration file in /);
  await assert.rejects(m.setUpPod(pod(), ctx), UnavailableError);
  await writeNet('10-a.conflist', 'a', ['p1']);
  assert.deepEqual(await m.reload(), { ready: true });
});

test('setUpPod: loopback first, then ADD in order with prevResult; tearDownPod: DEL in reverse with the cached result', async () => {
  await writeNet('10-a.conflist', 'a', ['p1', 'p2']);
  const m = manager();
  await m.reload();
  const { ips } = await m.setUpPod(pod(), ctx);
  assert.deepEqual(ips, ['10.2.0.2']);
  const add = await calls();
  assert.deepEqual(
    add.map((c) => `${c.cmd} ${c.plugin} ${c.ifname}`),
    ['ADD loopback lo', 'ADD p1 eth0', 'ADD p2 eth0'],
  );
  assert.equal(add[0].stdin.name, 'cni-loopback');
  assert.equal(add[1].stdin.prevResult, undefined);
  assert.deepEqual((add[2].stdin.prevResult as { ips: unknown }).ips, [{ address: '10.1.0.2/24', interface: 0 }]);
  assert.deepEqual(await m.listAttachedPods(), ['pod1']);

  await fs.rm(logFile);
  await m.tearDownPod(pod(), ctx);
  const del = await calls();
  assert.deepEqual(
    del.map((c) => `${c.cmd} ${c.plugin} [${c.netns}]`),
    [`DEL p2 [${netns}]`, `DEL p1 [${netns}]`],
  );
  for (const c of del) assert.deepEqual((c.stdin.prevResult as { ips: unknown }).ips, [{ address: '10.2.0.2/24', interface: 0 }]);
  assert.deepEqual(await m.listAttachedPods(), []);
});

test('setUpPod: a failing plugin rolls back with a DEL of the whole chain and leaves no cache', async () => {
  await writeNet('10-a.conflist', 'a', ['p1', 'bad', 'p2']);
  const m = manager();
  await m.reload();
  await assert.rejects(m.setUpPod(pod(), ctx), /CNI plugin bad ADD failed: boom/);
  assert.deepEqual(
    (await calls()).map((c) => `${c.cmd} ${c.plugin}`),
    ['ADD loopback', 'ADD p1', 'ADD bad', 'DEL p2', 'DEL bad', 'DEL p1'],
  );
  assert.deepEqual(await m.listAttachedPods(), []);
});

test('a plugin whose DEL fails does not stop the others (the IP is freed); the error stays and so does the cache', async () => {
  await writeNet('10-a.conflist', 'a', ['p1', 'baddel', 'bad']);
  const m = manager();
  await m.reload();
  await assert.rejects(m.setUpPod(pod(), ctx), /CNI plugin bad ADD failed: boom/);
  assert.deepEqual(
    (await calls()).map((c) => `${c.cmd} ${c.plugin}`),
    ['ADD loopback', 'ADD p1', 'ADD baddel', 'ADD bad', 'DEL bad', 'DEL baddel', 'DEL p1'],
  );
  assert.deepEqual(await m.listAttachedPods(), ['pod1'], 'kept for a retry');
  await fs.rm(logFile);
  await assert.rejects(m.tearDownPod(pod(), ctx), /CNI plugin baddel DEL failed: cannot delete/);
  assert.deepEqual(
    (await calls()).map((c) => `${c.cmd} ${c.plugin}`),
    ['DEL bad', 'DEL baddel', 'DEL p1'],
  );
  assert.deepEqual(await m.listAttachedPods(), ['pod1']);
});

test('isNetnsMount: a plain file (left by a crash between unmount and unlink) or a missing one is no namespace; DEL then gets none', async () => {
  assert.equal(await isNetnsMount(netns), false);
  assert.equal(await isNetnsMount(path.join(tmp, 'missing')), false);
  await writeNet('10-a.conflist', 'a', ['p1']);
  const m = manager(netDir, isNetnsMount);
  await m.reload();
  await m.setUpPod(pod(), ctx);
  await fs.rm(logFile);
  await m.tearDownPod(pod(), ctx);
  assert.deepEqual(
    (await calls()).map((c) => `${c.cmd} ${c.plugin} [${c.netns}]`),
    ['DEL p1 []'],
  );
});

const netnsReadyCases: { name: string; fail: boolean; want: string[]; attached: string[] }[] = [
  { name: 'namespaces made', fail: false, want: ['ADD loopback', 'ADD p1'], attached: ['pod1'] },
  { name: 'namespaces failed: no plugin runs, no record stays', fail: true, want: [], attached: [] },
];
for (const c of netnsReadyCases) {
  test(`setUpPod while the netns is made: the cache record comes first; ${c.name}`, async () => {
    await writeNet('10-a.conflist', 'a', ['p1']);
    const m = manager();
    await m.reload();
    let settle: (ok: boolean) => void = () => undefined;
    const netnsReady = new Promise<void>((resolve, reject) => {
      settle = (ok) => (ok ? resolve() : reject(new UnavailableError('unshare failed')));
    });
    // Handled here too: on a loaded machine the test may reject it while setUpPod is still
    // fsyncing the record, before it awaits the promise (an unhandled rejection fails the test).
    netnsReady.catch(() => undefined);
    const setUp = m.setUpPod(pod(), ctx, netnsReady);
    // The record is on disk before the namespaces exist, so a crash now still tears down.
    // Waits for a condition, not a time: a loaded machine may take long to write the record.
    for (const until = Date.now() + 10_000; (await m.listAttachedPods()).length === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(await m.listAttachedPods(), ['pod1']);
    assert.deepEqual(await calls(), []);
    settle(!c.fail);
    if (c.fail) await assert.rejects(setUp, /unshare failed/);
    else await setUp;
    assert.deepEqual(
      (await calls()).map((x) => `${x.cmd} ${x.plugin}`),
      c.want,
    );
    assert.deepEqual(await m.listAttachedPods(), c.attached);
  });
}

test('tearDownPod: uses the cached config after a restart with a changed config, and an empty netns once it is gone', async () => {
  await writeNet('10-a.conflist', 'a', ['p1']);
  const first = manager();
  await first.reload();
  await first.setUpPod(pod(), ctx);
  const otherDir = path.join(tmp, 'net2.d');
  await writeNet('10-b.conflist', 'b', ['p2'], otherDir);
  const second = manager(otherDir);
  await second.reload();
  await fs.rm(netns);
  await fs.rm(logFile);
  await second.tearDownPod(pod(), ctx);
  const del = await calls();
  assert.deepEqual(
    del.map((c) => `${c.cmd} ${c.plugin} [${c.netns}] ${String(c.stdin.name)}`),
    ['DEL p1 [] a'],
  );
});

test('tearDownPod: no cache uses the current config; no cache and no config is a no-op', async () => {
  const m = manager();
  await m.reload();
  await m.tearDownPod(pod(), ctx);
  assert.deepEqual(await calls(), []);
  await writeNet('10-a.conflist', 'a', ['p1']);
  await m.reload();
  await m.tearDownPod(pod(), ctx);
  assert.deepEqual(
    (await calls()).map((c) => `${c.cmd} ${c.plugin}`),
    ['DEL p1'],
  );
});
