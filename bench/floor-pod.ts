import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { runProgram } from '../lib/process';
import type { TestDaemon } from '../test/harness/daemon';
import type { TestRegistry } from '../test/harness/registry';
import { startBenchDaemon } from './bench-daemon';
import { testBridgePlugin, unmountUnder } from '../test/harness/daemon';
import { testBridge, TEST_SUBNET_OCTET } from '../test/harness/slot';
import { defaultConfig } from '../lib/config/config';
import { DEFAULT_SECCOMP_PROFILE } from '../lib/security/seccomp-default';
import { nativeSeccompArch, toOciSeccomp } from '../lib/security/seccomp-oci';

/**
 * The floors of pod start and teardown: what the OS itself takes for what the daemon does, done
 * by hand with the same tools, serially: `ip netns add`, the CNI bridge plugin (ADD/DEL, same
 * plugin as the daemon's network), an overlay mount of the image's layer, and runc on a bundle
 * from `runc spec`. Bridge and subnet follow the test slot (test/harness/slot.ts).
 */

async function must(file: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await runProgram(file, args, opts);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr.toString()} ${r.stdout.toString()}`);
  return r.stdout.toString();
}

interface Spec {
  process: { args: string[]; terminal: boolean };
  root: { path: string; readonly: boolean };
  linux: { namespaces: { type: string; path?: string }[]; seccomp?: ReturnType<typeof toOciSeccomp> };
}

/**
 * The seccomp filter the daemon gives a container by default (RuntimeDefault: the built-in
 * profile, CRI-O's default capabilities). runc compiles it at every create (~25-30 ms on this
 * machine kind, measured), which the plain floor does not pay.
 */
function daemonDefaultSeccomp(): ReturnType<typeof toOciSeccomp> {
  return toOciSeccomp(DEFAULT_SECCOMP_PROFILE, { bounding: defaultConfig().runtime.default_capabilities, arch: nativeSeccompArch(process.arch) });
}

/** The lower layer of the daemon's busybox image (containers/storage layout: <graphroot>/overlay/<id>/diff). */
export async function imageLayerDir(daemonDir: string): Promise<string> {
  const home = path.join(daemonDir, 'root', 'overlay');
  for (const name of await fs.readdir(home)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const diff = path.join(home, name, 'diff');
    if (await fs.stat(path.join(diff, 'bin')).then(() => true, () => false)) return diff;
  }
  throw new Error(`no image layer with /bin under ${home}`);
}

/** A floor pod's steps, each timed by the caller. */
export class FloorPods {
  private spec: Spec | undefined;
  private readonly bridge: string;
  private readonly subnet: string;

  constructor(
    private readonly dir: string,
    private readonly lowerDir: string,
    netIndex: number,
  ) {
    this.bridge = testBridge(netIndex);
    this.subnet = `10.${TEST_SUBNET_OCTET}.${netIndex}.0/24`;
  }

  /** The daemon's network settings (the harness's bridge plugin), so both do the same work. */
  private conf(): string {
    return JSON.stringify({ cniVersion: '1.0.0', name: 'bench-floor', ...testBridgePlugin(path.join(this.dir, 'ipam'), this.bridge, this.subnet) });
  }

  private env(id: string, command: 'ADD' | 'DEL'): NodeJS.ProcessEnv {
    return { ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };
  }

  private base(id: string): string {
    return path.join(this.dir, id);
  }

  private runcRoot(): string {
    return path.join(this.dir, 'runc');
  }

  /** netns + CNI ADD: RunPodSandbox's floor. */
  async network(id: string): Promise<void> {
    await must('ip', ['netns', 'add', id]);
    await must('/usr/lib/cni/bridge', [], { input: this.conf(), env: this.env(id, 'ADD') });
  }

  /** Overlay mount and a bundle whose process is `args`, in the pod's netns; `seccomp`: with the daemon's default filter. */
  async rootfs(id: string, args: string[], seccomp = false): Promise<void> {
    if (!this.spec) {
      const template = path.join(this.dir, 'template');
      await fs.mkdir(template, { recursive: true });
      await must('runc', ['spec', '-b', template]);
      this.spec = JSON.parse(await fs.readFile(path.join(template, 'config.json'), 'utf8')) as Spec;
    }
    const base = this.base(id);
    for (const d of ['upper', 'work', 'merged']) await fs.mkdir(path.join(base, d), { recursive: true });
    await must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.lowerDir},upperdir=${base}/upper,workdir=${base}/work`, `${base}/merged`]);
    const spec: Spec = {
      ...this.spec,
      process: { ...this.spec.process, args, terminal: false },
      root: { path: `${base}/merged`, readonly: false },
      linux: {
        ...this.spec.linux,
        namespaces: this.spec.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${id}` } : n)),
        ...(seccomp ? { seccomp: daemonDefaultSeccomp() } : {}),
      },
    };
    await fs.writeFile(path.join(base, 'config.json'), JSON.stringify(spec));
  }

  /**
   * `runc run` in the foreground (the process runs to its end) or detached (it keeps running).
   * A detached container inherits runc's stdio, so it gets /dev/null: a pipe would stay open
   * while it runs and the caller would wait for its end.
   */
  async run(id: string, detach: boolean): Promise<void> {
    const args = ['--root', this.runcRoot(), 'run', ...(detach ? ['-d'] : []), '-b', this.base(id), id];
    if (!detach) {
      await must('runc', args);
      return;
    }
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('runc', args, { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`runc ${args.join(' ')}: exit ${String(code)}`);
  }

  /** Teardown's floor, step by step: runc kill + delete, CNI DEL, netns delete, umount. */
  async teardown(id: string): Promise<void> {
    await runProgram('runc', ['--root', this.runcRoot(), 'kill', id, 'KILL']);
    await must('runc', ['--root', this.runcRoot(), 'delete', '--force', id]);
    await must('/usr/lib/cni/bridge', [], { input: this.conf(), env: this.env(id, 'DEL') });
    await must('ip', ['netns', 'del', id]);
    await must('umount', [`${this.base(id)}/merged`]);
  }

  /** Removes what a run left: its bridge (the caller removes the directory). */
  async close(): Promise<void> {
    await runProgram('ip', ['link', 'del', this.bridge]);
  }
}

/** A bench daemon with busybox pulled, and floor pods on the next network index beside it. */
export interface FloorBenchParts {
  daemon: TestDaemon;
  registry: TestRegistry;
  floorPods: FloorPods;
  /** The floor pods' directory. */
  work: string;
  /** /proc/sys/net/ipv4/ip_forward before the bench (the bridge plugin turns it on). */
  ipForward: string;
}

/** Starts the daemon (network `netIndex`) with busybox pulled, and floor pods (network `netIndex + 1`) on its layer. */
export async function startFloorBench(netIndex: number, extraDropIn = ''): Promise<FloorBenchParts> {
  // The bridge plugin (isGateway) turns on IPv4 forwarding; the floor's own run must put it back.
  const ipForward = await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const { registry, daemon } = await startBenchDaemon(netIndex, extraDropIn);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-bench-'));
  const parts = { daemon, registry, work, ipForward };
  try {
    await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
    return { ...parts, floorPods: new FloorPods(work, await imageLayerDir(daemon.dir), netIndex + 1) };
  } catch (err) {
    await stopFloorBench(parts);
    throw err;
  }
}

/** Stops the daemon and registry, removes the floor pods' mounts and directory, restores ip_forward. */
export async function stopFloorBench(p: Omit<FloorBenchParts, 'floorPods'>): Promise<void> {
  await p.daemon.cleanup();
  await p.registry.stop();
  await unmountUnder(p.work);
  await fs.rm(p.work, { recursive: true, force: true });
  await fs.writeFile('/proc/sys/net/ipv4/ip_forward', p.ipForward);
}
