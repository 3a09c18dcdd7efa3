import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backgroundContext, type OpContext } from '../../lib/context';
import { InternalError } from '../../lib/errors';
import { nullLogger } from '../../lib/log';
import { removeCgroup } from '../../lib/oci/cgroupfs';
import { DEFAULT_READONLY_PATHS } from '../../lib/oci/defaults';
import { OciRuntime, type OciRuntimeOptions } from '../../lib/oci/runtime';
import { generateSpec } from '../../lib/oci/spec';
import { DEFAULT_CAPABILITIES } from '../../lib/security/capabilities';
import { readHostCapabilities } from '../../lib/security/host-capabilities';
import { resolveSecurity } from '../../lib/security/security';

/**
 * OciRuntime against the real runc 1.1 + conmon 2.1 of the host, with its own runc root, exits dir
 * and cgroup parent. Needs root. Everything created is removed in `after`, even on failure.
 */

const RUNC = '/usr/sbin/runc';
const CONMON = '/usr/bin/conmon';
const BUSYBOX = '/bin/busybox';
const CGROUP_PARENT = '/crio-ts-test';
const CONMON_CGROUP = `${CGROUP_PARENT}/conmon`;
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'id'];

const canRun = process.getuid?.() === 0 && [RUNC, CONMON, BUSYBOX].every((p) => existsSync(p));

describe('oci runtime (runc + conmon)', { skip: canRun ? false : 'needs root, runc, conmon and busybox' }, () => {
  let tmp = '';
  let runtime: OciRuntime;
  let ctx: OpContext;
  let hostCaps: string[] = [];
  const created: string[] = [];

  const newId = (): string => randomBytes(32).toString('hex');
  const bundleOf = (id: string): string => path.join(tmp, 'bundles', id);
  const logOf = (id: string): string => path.join(tmp, 'logs', `${id}.log`);

  async function writeBundle(id: string, args: string[]): Promise<string> {
    const bundle = bundleOf(id);
    const rootfs = path.join(bundle, 'rootfs');
    await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
    for (const dir of ['proc', 'dev', 'sys', 'etc', 'tmp']) await fs.mkdir(path.join(rootfs, dir), { recursive: true });
    await fs.copyFile(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
    for (const applet of APPLETS) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
    const { security } = resolveSecurity({
      privileged: false,
      defaultCapabilities: DEFAULT_CAPABILITIES,
      addInheritableCapabilities: false,
      hostCapabilities: hostCaps,
      noNewPrivileges: false,
      readonlyRootfs: false,
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      hostFeatures: { apparmor: false, selinux: false, seccomp: false },
    });
    const spec = generateSpec({
      containerId: id,
      rootfs,
      hostname: 'oci-test',
      process: { args, env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [0] }, terminal: false },
      security,
      namespaces: { network: { mode: 'new' }, ipc: { mode: 'new' }, uts: { mode: 'new' }, pid: { mode: 'new' } },
      mounts: [],
      podFiles: {},
      cgroupsPath: `${CGROUP_PARENT}/crio-${id}`,
      resources: { pidsLimit: 100 },
      annotations: { 'io.kubernetes.cri-o.ContainerID': id },
    });
    await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
    return bundle;
  }

  async function create(args: string[]): Promise<{ id: string; pid: number; conmonPid: number }> {
    const id = newId();
    created.push(id);
    const bundleDir = await writeBundle(id, args);
    const r = await runtime.createContainer({ containerId: id, name: `k8s_test_${id.slice(0, 8)}`, bundleDir, logPath: logOf(id), terminal: false, stdin: false, stdinOnce: false }, ctx);
    return { id, ...r };
  }

  async function waitForExitFile(id: string): Promise<number> {
    for (;;) {
      const exit = await runtime.readExitFile(id);
      if (exit) return exit.exitCode;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function cgroupDir(id: string): string {
    return path.join('/sys/fs/cgroup/pids', CGROUP_PARENT, `crio-${id}`);
  }

  async function cgroupPids(id: string): Promise<number[]> {
    const text = await fs.readFile(path.join(cgroupDir(id), 'cgroup.procs'), 'utf8');
    return text.split('\n').filter(Boolean).map(Number);
  }

  /** Whether a process of the container ignores SIGTERM (its `trap "" TERM` has run). */
  async function ignoresTerm(id: string): Promise<boolean> {
    for (const pid of await cgroupPids(id)) {
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const ign = /^SigIgn:\s+([0-9a-f]+)$/m.exec(status)?.[1];
      if (ign !== undefined && (BigInt(`0x${ign}`) & (1n << 14n)) !== 0n) return true;
    }
    return false;
  }

  /** PIDs of processes whose command line mentions our temp dir (conmon, runc) — must be none at the end. */
  async function processesMentioning(needle: string): Promise<number[]> {
    const out: number[] = [];
    for (const name of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmdline = await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(needle)) out.push(Number(name));
    }
    return out;
  }

  async function zombieChildren(): Promise<number[]> {
    const out: number[] = [];
    for (const name of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const status = await fs.readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
      if (new RegExp(`^PPid:\\s*${process.pid}$`, 'm').test(status) && /^State:\s*Z/m.test(status)) out.push(Number(name));
    }
    return out;
  }

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-oci-'));
    hostCaps = await readHostCapabilities();
    ctx = backgroundContext(nullLogger());
    runtime = new OciRuntime(runtimeOptions());
  });

  function runtimeOptions(): OciRuntimeOptions {
    return {
      runtimePath: RUNC,
      runtimeRoot: path.join(tmp, 'runc'),
      conmonPath: CONMON,
      exitsDir: path.join(tmp, 'exits'),
      persistDir: path.join(tmp, 'containers'),
      cgroupManager: 'cgroupfs',
      conmonCgroup: CONMON_CGROUP,
      logLevel: 'info',
      log: nullLogger(),
    };
  }

  after(async () => {
    for (const id of created) {
      const bundle = bundleOf(id);
      for (const file of ['conmon-pidfile', 'pidfile']) {
        const pid = Number.parseInt(await fs.readFile(path.join(bundle, file), 'utf8').catch(() => ''), 10);
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      await runtime.delete(id, true).catch(() => undefined);
      // runc delete removes the container cgroup; this covers a delete that failed.
      await removeCgroup(`${CGROUP_PARENT}/crio-${id}`).catch(() => undefined);
    }
    // conmon may need a moment to exit after its container is gone before its cgroup can be removed.
    for (let i = 0; i < 50; i++) {
      try {
        await removeCgroup(CONMON_CGROUP);
        await removeCgroup(CGROUP_PARENT);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  test('create starts conmon in its cgroup and leaves no zombie', async () => {
    const c = await create(['sleep', '1000']);
    assert.ok(c.pid > 0 && c.conmonPid > 0);
    assert.deepEqual(await runtime.state(c.id), { status: 'created', pid: c.pid });
    const conmonCgroups = await fs.readFile(`/proc/${c.conmonPid}/cgroup`, 'utf8');
    assert.match(conmonCgroups, new RegExp(`:${CONMON_CGROUP}$`, 'm'));
    assert.deepEqual(await zombieChildren(), []);
    await runtime.startContainer(c.id);
    assert.equal((await runtime.state(c.id))?.status, 'running');
    await runtime.stopContainer(c.id, 0, 'KILL');
    assert.equal(await waitForExitFile(c.id), 137);
    await runtime.delete(c.id, false);
    assert.equal(await runtime.state(c.id), undefined);
    assert.equal(existsSync(cgroupDir(c.id)), false);
  });

  test('execSync returns output, exit codes and times out like CRI-O', async () => {
    const c = await create(['sleep', '1000']);
    await runtime.startContainer(c.id);
    const hi = await runtime.execSync(c.id, { cmd: ['echo', 'hi'], timeoutSec: 10 }, ctx);
    assert.deepEqual({ out: hi.stdout.toString(), err: hi.stderr.toString(), code: hi.exitCode }, { out: 'hi\n', err: '', code: 0 });
    const err = await runtime.execSync(c.id, { cmd: ['sh', '-c', 'echo err >&2; exit 3'], timeoutSec: 10 }, ctx);
    assert.deepEqual({ out: err.stdout.toString(), err: err.stderr.toString(), code: err.exitCode }, { out: '', err: 'err\n', code: 3 });
    const env = await runtime.execSync(c.id, { cmd: ['sh', '-c', 'echo $FOO'], env: ['FOO=bar'], timeoutSec: 10 }, ctx);
    assert.equal(env.stdout.toString(), 'bar\n');
    // Output beyond 16 MiB per stream is dropped, not an error.
    const big = await runtime.execSync(c.id, { cmd: ['sh', '-c', 'busybox yes | busybox head -c 17000000'], timeoutSec: 60 }, ctx);
    assert.deepEqual({ len: big.stdout.length, code: big.exitCode }, { len: 16 * 1024 * 1024, code: 0 });
    const slow = await runtime.execSync(c.id, { cmd: ['sleep', '10'], timeoutSec: 1 }, ctx);
    assert.deepEqual({ err: slow.stderr.toString(), code: slow.exitCode }, { err: 'command timed out', code: -1 });
    // Only the container's init is left in its cgroup: the timed-out sleep was killed.
    assert.deepEqual(await cgroupPids(c.id), [c.pid]);
    // With a terminal the exec goes through conmon; both streams arrive on the pty.
    const tty = await runtime.execSync(c.id, { cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'], tty: true, timeoutSec: 10 }, ctx);
    assert.deepEqual({ out: tty.stdout.toString(), code: tty.exitCode }, { out: 'out\r\nerr\r\n', code: 4 });
    const ttySlow = await runtime.execSync(c.id, { cmd: ['sleep', '10'], tty: true, timeoutSec: 1 }, ctx);
    assert.deepEqual({ err: ttySlow.stderr.toString(), code: ttySlow.exitCode }, { err: 'command timed out', code: -1 });
    // A cancelled request kills its command and rejects with the abort reason.
    const abort = new AbortController();
    const cancelled = runtime.execSync(c.id, { cmd: ['sleep', '30'], timeoutSec: 0 }, { log: nullLogger(), signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await assert.rejects(cancelled, { name: 'AbortError' });
    for (let i = 0; i < 100 && (await cgroupPids(c.id)).length > 1; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await cgroupPids(c.id), [c.pid]);
    await runtime.stopContainer(c.id, 0, 'KILL');
    await waitForExitFile(c.id);
    await assert.rejects(runtime.execSync(c.id, { cmd: ['echo', 'late'], timeoutSec: 5 }, ctx));
    await runtime.delete(c.id, false);
  });

  test('conmon writes the CRI log and the exit file; watchExits reports it', async () => {
    const echo = await create(['echo', 'hi']);
    let reported: () => void = () => undefined;
    const seen = new Promise<void>((resolve) => {
      reported = resolve;
    });
    const unwatch = runtime.watchExits((id) => {
      if (id === echo.id) reported();
    });
    try {
      await runtime.startContainer(echo.id);
      await seen;
    } finally {
      unwatch();
    }
    assert.equal(await waitForExitFile(echo.id), 0);
    const log = await fs.readFile(logOf(echo.id), 'utf8');
    assert.match(log, /^\S+ stdout F hi$/m);
    const seven = await create(['sh', '-c', 'exit 7']);
    await runtime.startContainer(seven.id);
    assert.equal(await waitForExitFile(seven.id), 7);
    const exit = await runtime.readExitFile(seven.id);
    assert.ok(exit && exit.finishedAt instanceof Date);
    await runtime.delete(echo.id, false);
    await runtime.delete(seven.id, false);
  });

  test('stop delivers the stop signal, then SIGKILLs a container that ignores it', async () => {
    const graceful = await create(['sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait']);
    await runtime.startContainer(graceful.id);
    // Once `sleep` runs, the shell has installed its trap.
    while ((await cgroupPids(graceful.id)).length < 2) await new Promise((r) => setTimeout(r, 50));
    await runtime.stopContainer(graceful.id, 30, 'SIGTERM');
    assert.equal((await runtime.readExitFile(graceful.id))?.exitCode, 0);

    const stubborn = await create(['sh', '-c', 'trap "" TERM; sleep 1000']);
    await runtime.startContainer(stubborn.id);
    // Stop only once the trap is in effect: a process of the container ignores SIGTERM (bit 15 of
    // SigIgn). Before that, the signal could reach the shell while it is still starting.
    while (!(await ignoresTerm(stubborn.id))) await new Promise((r) => setTimeout(r, 50));
    // A second, shorter stop joins the first and shortens its wait.
    const first = runtime.stopContainer(stubborn.id, 600, 'TERM');
    const second = runtime.stopContainer(stubborn.id, 1, 'TERM');
    await Promise.all([first, second]);
    assert.equal((await runtime.readExitFile(stubborn.id))?.exitCode, 137);
    // Idempotent once stopped.
    await runtime.stopContainer(stubborn.id, 10, 'TERM');
    await runtime.delete(graceful.id, false);
    await runtime.delete(stubborn.id, false);
    assert.equal(existsSync(cgroupDir(stubborn.id)), false);
  });

  test('a fresh OciRuntime (daemon restart) manages containers it did not create', async () => {
    const c = await create(['sh', '-c', 'trap "" TERM; sleep 1000']);
    await runtime.startContainer(c.id);
    const restarted = new OciRuntime(runtimeOptions());
    const hi = await restarted.execSync(c.id, { cmd: ['echo', 'again'], timeoutSec: 10 }, ctx);
    assert.equal(hi.stdout.toString(), 'again\n');
    await restarted.stopContainer(c.id, 1, 'TERM');
    assert.equal((await restarted.readExitFile(c.id))?.exitCode, 137);
    await restarted.stopContainer(c.id, 1, 'TERM');
    await restarted.delete(c.id, false);
    await restarted.removeContainerFiles(c.id);
    assert.equal(await restarted.readExitFile(c.id), undefined);
  });

  test('a failing create reports runc’s error and cleans up', async () => {
    const id = newId();
    created.push(id);
    const bundleDir = await writeBundle(id, ['/bin/does-not-exist']);
    await assert.rejects(
      runtime.createContainer({ containerId: id, name: 'bad', bundleDir, logPath: logOf(id), terminal: false, stdin: false, stdinOnce: false }, ctx),
      (err: unknown) => err instanceof InternalError && /does-not-exist/.test(err.message),
    );
    assert.equal(await runtime.state(id), undefined);
    assert.equal(existsSync(cgroupDir(id)), false);
  });

  test('start: a second start and the start of a container whose process died fail with a reason', async () => {
    const c = await create(['sleep', '1000']);
    await runtime.startContainer(c.id);
    assert.equal((await runtime.state(c.id))?.status, 'running');
    await assert.rejects(runtime.startContainer(c.id), (err: unknown) => err instanceof InternalError && /already running/.test(err.message));
    const dead = await create(['sleep', '1000']);
    process.kill(dead.pid, 'SIGKILL');
    await assert.rejects(runtime.startContainer(dead.id), (err: unknown) => err instanceof InternalError && /stopped|dead/.test(err.message));
    assert.equal(await waitForExitFile(dead.id), 137);
  });

  test('nothing of the test is left running', async () => {
    for (const id of created) await runtime.delete(id, true);
    // conmon exits right after writing the exit file; give it a moment without asserting on timing.
    let left: number[] = [];
    for (let i = 0; i < 100; i++) {
      left = await processesMentioning(tmp);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(left, []);
    assert.deepEqual(await zombieChildren(), []);
  });
});
