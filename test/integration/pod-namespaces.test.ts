import assert from 'node:assert/strict';
import { promises as fs, readdirSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NamespaceMode } from '../../lib/cri/gen/api';
import { createPodNamespaces, removePodNamespaces, unmountNamespaceDirs, type PodNamespaces } from '../../lib/network/namespaces';
import { podNsBackend, type PodNsBackend } from '../../lib/network/pod-ns-native';
import { runProgram } from '../../lib/process';
import { startDaemon, unmountUnder, type TestDaemon } from '../harness/daemon';

/*
 * A pod's net/ipc/uts namespaces, made by both backends with the same assertions: the addon's
 * thread (native/pod-ns.c) and the perl script (CRIO_TS_PODNS=exec). First createPodNamespaces
 * called in this process (so the caller's own namespaces can be checked, thread by thread),
 * then a real daemon's RunPodSandbox with each backend. Everything is looked at from outside
 * with nsenter, under this file's own temp dirs.
 */

const BACKENDS: readonly PodNsBackend[] = ['thread', 'exec'];
const PORT_START = 'net/ipv4/ip_unprivileged_port_start';
const SHM_RMID = 'kernel/shm_rmid_forced';
const SHM_SIZE = 3 * 1024 * 1024;

let tmp = '';

/** The namespace (e.g. "net:[4026531840]") of every thread of `pid`, by kind. */
function threadNamespaces(pid: number | 'self'): Record<string, string[]> {
  const out: Record<string, string[]> = { net: [], ipc: [], uts: [] };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    for (const kind of Object.keys(out)) {
      try {
        out[kind]?.push(readlinkSync(`/proc/${pid}/task/${tid}/ns/${kind}`));
      } catch {
        // a thread that exited between readdir and readlink
      }
    }
  }
  return out;
}

async function run(argv: string[]): Promise<string> {
  const [file, ...args] = argv;
  const r = await runProgram(file ?? '', args);
  assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const readSysctl = (key: string): Promise<string> => fs.readFile(`/proc/sys/${key}`, 'utf8').then((s) => s.trim());

/** The mountinfo line fields of the mount on `target` in this (the host's) mount namespace; undefined when none (or no target). */
async function mountOf(target: string): Promise<{ fstype: string; options: string[]; optional: string[]; superOptions: string[] } | undefined> {
  const real = await fs.realpath(target).catch(() => undefined);
  if (real === undefined) return undefined;
  for (const line of (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const [left, right] = line.split(' - ');
    const f = left?.split(' ') ?? [];
    const r = right?.split(' ') ?? [];
    if (f[4] === real) return { fstype: r[0] ?? '', options: (f[5] ?? '').split(','), optional: f.slice(6), superOptions: (r[2] ?? '').split(',') };
  }
  return undefined;
}

/** Mount points under `dir` except the namespace kind dirs' self-binds (made once, kept). */
async function mountsUnder(dir: string): Promise<string[]> {
  const real = await fs.realpath(dir);
  return (await fs.readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((t) => t.startsWith(real + '/') && !/\/(netns|ipcns|utsns)$/.test(t));
}

/** Values for the two sysctls that differ from the host's, so that seeing them inside proves they were set there. */
async function podSysctls(): Promise<{ portStart: string; rmid: string; host: { portStart: string; rmid: string } }> {
  const host = { portStart: await readSysctl(PORT_START), rmid: await readSysctl(SHM_RMID) };
  return { portStart: host.portStart === '777' ? '778' : '777', rmid: host.rmid === '1' ? '0' : '1', host };
}

/** What a pod was made with. */
interface Want {
  hostname: string;
  portStart: string;
  rmid: string;
  shmBytes: number;
}

/** The assertions both backends must pass: new pinned namespaces, and the pod's setup inside them only. */
async function assertPodNamespaces(ns: PodNamespaces, shm: string, want: Want): Promise<void> {
  const host = { net: readlinkSync('/proc/self/ns/net'), ipc: readlinkSync('/proc/self/ns/ipc'), uts: readlinkSync('/proc/self/ns/uts') };
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    const pin = ns[kind];
    assert.ok(pin, `${kind} pinned`);
    assert.equal((await mountOf(pin))?.fstype, 'nsfs', `${pin} is an nsfs mount`);
    // The pinned namespace is a new one: nsenter's view of its own ns link names it.
    const inside = (await run(['nsenter', `--${kind}=${pin}`, 'readlink', `/proc/self/ns/${kind}`])).trim();
    assert.notEqual(inside, host[kind], `${kind} namespace is new`);
    assert.equal((await fs.stat(pin)).ino, Number(/\[(\d+)\]/.exec(inside)?.[1]), `${pin} pins ${inside}`);
  }
  assert.equal((await run(['nsenter', `--uts=${ns.uts}`, 'hostname'])).trim(), want.hostname);
  assert.match(await run(['nsenter', `--net=${ns.net}`, 'ip', '-o', 'link', 'show', 'lo']), /<[^>]*\bUP\b[^>]*>/);
  assert.equal((await run(['nsenter', `--net=${ns.net}`, 'cat', `/proc/sys/${PORT_START}`])).trim(), want.portStart);
  assert.equal((await run(['nsenter', `--ipc=${ns.ipc}`, 'cat', `/proc/sys/${SHM_RMID}`])).trim(), want.rmid);
  const m = await mountOf(shm);
  assert.equal(m?.fstype, 'tmpfs');
  for (const o of ['nosuid', 'nodev', 'noexec']) assert.ok(m?.options.includes(o), `shm mounted ${o}: ${m?.options.join(',')}`);
  assert.ok(m?.superOptions.includes(`size=${want.shmBytes / 1024}k`), `shm size: ${m?.superOptions.join(',')}`);
  assert.equal((await fs.stat(shm)).mode & 0o7777, 0o1777);
}

/** Nothing of the pod on the host: its sysctls and hostname are the host's as before. */
async function assertHostUnchanged(host: { portStart: string; rmid: string }, podHostname: string): Promise<void> {
  assert.equal(await readSysctl(PORT_START), host.portStart);
  assert.equal(await readSysctl(SHM_RMID), host.rmid);
  assert.notEqual((await fs.readFile('/proc/sys/kernel/hostname', 'utf8')).trim(), podHostname);
}

/** Every thread of `pid` is in the namespaces this test process is in (the host's). */
function assertThreadsInHostNamespaces(pid: number | 'self'): void {
  const threads = threadNamespaces(pid);
  for (const kind of ['net', 'ipc', 'uts']) {
    const host = readlinkSync(`/proc/self/ns/${kind}`);
    assert.deepEqual([...new Set(threads[kind])], [host], `every thread of ${pid} is in the host's ${kind} namespace`);
  }
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-test-podns-'));
});

after(async () => {
  await unmountNamespaceDirs(path.join(tmp, 'ns')).catch(() => undefined);
  await unmountUnder(tmp);
  await fs.rm(tmp, { recursive: true, force: true });
});

test('the addon is built, so the daemon makes pod namespaces on a thread by default', () => {
  assert.equal(podNsBackend(), 'thread');
});

for (const backend of BACKENDS) {
  test(`${backend}: new pinned namespaces with hostname, lo, sysctls and /dev/shm inside; the caller's threads stay in theirs`, async () => {
    const sysctls = await podSysctls();
    assertThreadsInHostNamespaces('self');
    const shm = path.join(tmp, `shm-${backend}`);
    await fs.mkdir(shm, { mode: 0o1777 });
    await fs.chmod(shm, 0o1777); // whatever the umask: the mount's mode=1777 is what is checked
    const want: Want = { hostname: `host-${backend}`, portStart: sysctls.portStart, rmid: sysctls.rmid, shmBytes: SHM_SIZE };
    const ns = await createPodNamespaces({
      namespacesDir: path.join(tmp, 'ns'),
      podSandboxId: `pod-${backend}`,
      net: true,
      ipc: true,
      uts: true,
      hostname: want.hostname,
      loopbackUp: true,
      shm: { path: shm, sizeBytes: SHM_SIZE },
      sysctls: [
        { path: PORT_START, value: want.portStart },
        { path: SHM_RMID, value: want.rmid },
      ],
      backend,
    });
    try {
      await assertPodNamespaces(ns, shm, want);
      // As `ip netns` makes /run/netns: an unpin then propagates into mount namespaces copied from ours.
      for (const d of ['netns', 'ipcns', 'utsns']) {
        const m = await mountOf(path.join(tmp, 'ns', d));
        assert.ok(m?.optional.some((o) => o.startsWith('shared:')), `${d} is a shared mount: ${m?.optional.join(' ')}`);
      }
      await assertHostUnchanged(sysctls.host, want.hostname);
      assertThreadsInHostNamespaces('self');
    } finally {
      await removePodNamespaces(ns, [shm]);
    }
    assert.deepEqual(await mountsUnder(tmp), []);
  });

  test(`${backend}: a sysctl that does not exist fails naming it, leaving no mount and no file`, async () => {
    const nsDir = path.join(tmp, 'ns');
    await assert.rejects(
      createPodNamespaces({ namespacesDir: nsDir, podSandboxId: `bad-sysctl-${backend}`, net: true, ipc: true, uts: true, sysctls: [{ path: 'net/ipv4/no_such_sysctl', value: '1' }], backend }),
      backend === 'thread' ? /failed: open \/proc\/sys\/net\/ipv4\/no_such_sysctl: ENOENT \(no such file or directory\)$/ : /open \/proc\/sys\/net\/ipv4\/no_such_sysctl: No such file or directory/,
    );
    assert.deepEqual(await mountsUnder(tmp), []);
    for (const d of ['netns', 'ipcns', 'utsns']) assert.deepEqual(await fs.readdir(path.join(nsDir, d)).then((n) => n.filter((f) => f.startsWith('bad-'))), []);
  });

  test(`${backend}: /dev/shm in a missing directory fails after the pins, and the pins are undone`, async () => {
    const missing = path.join(tmp, 'no-such-dir', 'shm');
    await assert.rejects(
      createPodNamespaces({ namespacesDir: path.join(tmp, 'ns'), podSandboxId: `bad-shm-${backend}`, net: true, ipc: true, uts: false, shm: { path: missing, sizeBytes: SHM_SIZE }, backend }),
      backend === 'thread' ? new RegExp(`failed: mount shm on ${missing}: ENOENT`) : new RegExp(`mount shm on ${missing}: No such file or directory`),
    );
    assert.deepEqual(await mountsUnder(tmp), []);
  });
}

test('thread: pods made at once each get their own namespaces', async () => {
  const ids = ['c0', 'c1', 'c2', 'c3'];
  const made = await Promise.all(ids.map((id) => createPodNamespaces({ namespacesDir: path.join(tmp, 'ns'), podSandboxId: id, net: true, ipc: false, uts: true, hostname: id, backend: 'thread' })));
  try {
    const nets = new Set(await Promise.all(made.map(async (ns) => (await fs.stat(ns.net ?? '')).ino)));
    assert.equal(nets.size, ids.length);
    for (const [i, ns] of made.entries()) assert.equal((await run(['nsenter', `--uts=${ns.uts}`, 'hostname'])).trim(), ids[i]);
  } finally {
    for (const ns of made) await removePodNamespaces(ns);
  }
  assert.deepEqual(await mountsUnder(tmp), []);
});

let daemon: TestDaemon | undefined;
after(async () => {
  await daemon?.cleanup();
});

for (const backend of BACKENDS) {
  test(`daemon, ${backend}: RunPodSandbox's namespaces are new, set up and pinned; no daemon thread is left in them`, async () => {
    const env: Record<string, string> = { CRIO_TS_PODNS: backend === 'exec' ? 'exec' : '' };
    if (!daemon) daemon = await startDaemon({ netIndex: 187, portmap: false, env });
    else await daemon.restart(env);
    const pid = daemon.pid() ?? 0;
    const sysctls = await podSysctls();
    const name = `podns-${backend}`;
    const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({
      config: {
        metadata: { name, namespace: 'ns1', uid: `uid-${name}`, attempt: 0 },
        hostname: name,
        logDirectory: path.join(daemon.dir, 'pod-logs', name),
        linux: {
          sysctls: { 'net.ipv4.ip_unprivileged_port_start': sysctls.portStart, 'kernel.shm_rmid_forced': sysctls.rmid },
          // No pause container (drop_infra_ctr): nothing but the namespaces and the network.
          securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } },
        },
      },
    });
    const madeBy = backend === 'thread' ? 'thread' : 'perl';
    const line = daemon.logs().split('\n').find((l) => l.includes('"pod namespaces created"') && l.includes(podSandboxId));
    assert.match(line ?? '', new RegExp(`\\bmadeBy=${madeBy}\\b`), 'the daemon says which way it made them');
    const nsDir = path.join(daemon.dir, 'ns');
    const ns: PodNamespaces = { net: path.join(nsDir, 'netns', podSandboxId), ipc: path.join(nsDir, 'ipcns', podSandboxId), uts: path.join(nsDir, 'utsns', podSandboxId) };
    const shm = path.join(daemon.dir, 'run', 'crio-pods', podSandboxId, 'shm');
    await assertPodNamespaces(ns, shm, { hostname: name, portStart: sysctls.portStart, rmid: sysctls.rmid, shmBytes: 64 * 1024 * 1024 });
    await assertHostUnchanged(sysctls.host, name);
    assertThreadsInHostNamespaces(pid);
    await daemon.cri.runtime.stopPodSandbox({ podSandboxId });
    await daemon.cri.runtime.removePodSandbox({ podSandboxId });
    for (const pin of Object.values(ns)) await assert.rejects(fs.access(pin), { code: 'ENOENT' });
    assert.deepEqual(await mountsUnder(path.join(daemon.dir, 'run')), []);
  });
}
