import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProgram } from '../../lib/process';
import { daemonLaunchEnv, firstLine, shebangNodeArgs } from '../../lib/server/launch-env';
import { connectCri, type CriClients } from './cri-client';
import { testBridge, TEST_SUBNET_OCTET } from './slot';

/**
 * Starts the real crio-ts daemon (build/cmd/crio.js) on a private temp root, runroot, socket,
 * CNI config and runc root, so tests never touch the host's /var/lib/containers or
 * /var/run/crio. Like CRI-O's test/helpers.bash: dump the log on failure, keep the dir with
 * CRIO_TEST_KEEP=1, unmount innermost first on cleanup.
 */

export interface TestDaemonOptions {
  /** Extra TOML appended as a drop-in (crio.conf.d/50-test.conf). */
  dropIn?: string;
  /** registries.conf content (for redirecting names to the test registry). */
  registriesConf?: string;
  /** Index 1..254 used for the test's bridge name and subnet (crts<N>, 10.88.<N>.0/24; see slot.ts). */
  netIndex: number;
  /** Write no CNI config (to test NetworkReady=false). */
  noCni?: boolean;
  /**
   * Chain portmap after bridge in the CNI config (default true: the hostPort tests need it).
   * The benches use false: bridge only, like CRI-O's default network and their floors.
   */
  portmap?: boolean;
  /** storage.conf content (CONTAINERS_STORAGE_CONF of the daemon and of podman); default: overlay on the test root. */
  storageConf?: string;
  /** The CRI socket path (default `<dir>/crio.sock`); the node e2e suite uses the production one. */
  socket?: string;
  /** Extra command-line arguments for crio. */
  args?: string[];
  /** Extra environment for crio (e.g. NOTIFY_SOCKET, CRIO_TS_FAULT_POINT); restart() can replace it. */
  env?: Record<string, string>;
  /** Extra node flags before the script (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}

export interface TestDaemon {
  dir: string;
  socket: string;
  bridge: string;
  subnet: string;
  cri: CriClients;
  /** The daemon's log so far. */
  logs(): string;
  /** SIGTERM and wait (graceful shutdown). */
  stop(): Promise<void>;
  /** SIGKILL and wait (crash). */
  kill(): Promise<void>;
  /** Start the daemon again on the same dirs (with `env` instead of the earlier extra environment, when given). */
  restart(env?: Record<string, string>): Promise<void>;
  /** Resolves when the daemon process has exited on its own (e.g. at a fault point), with its signal. */
  exited(): Promise<NodeJS.Signals | number | null>;
  /** Sends a signal to the running daemon (SIGHUP: reload). */
  signal(sig: NodeJS.Signals): void;
  /** The running daemon's process ID (e.g. to look at its threads' namespaces). */
  pid(): number | undefined;
  /** Remove every pod through the CRI, stop the daemon, unmount and delete everything. */
  cleanup(): Promise<void>;
}

/** The daemon under test: this build's, or another build's `build/` dir in CRIO_TS_BUILD (benches compare builds A B A B). */
const CRIO_JS = process.env.CRIO_TS_BUILD ? path.join(process.env.CRIO_TS_BUILD, 'cmd', 'crio.js') : path.resolve(__dirname, '..', '..', 'cmd', 'crio.js');

function baseConfig(dir: string, socket: string): string {
  return `[crio]
root = "${dir}/root"
runroot = "${dir}/run"
log_dir = "${dir}/logs"
version_file = "${dir}/run/version"
clean_shutdown_file = "${dir}/root/clean.shutdown"

[crio.api]
listen = "${socket}"

[crio.runtime]
default_runtime = "runc"
container_exits_dir = "${dir}/run/exits"
container_attach_socket_dir = "${dir}/run"
namespaces_dir = "${dir}/ns"
log_level = "debug"
# Keep the host's CDI specs, OCI hooks and mounts.conf out of tests (tests that want them set these).
cdi_spec_dirs = ["${dir}/cdi-specs"]
hooks_dir = ["${dir}/hooks.d"]
default_mounts_file = "${dir}/mounts.conf"

[crio.runtime.runtimes.runc]
runtime_path = "/usr/sbin/runc"
runtime_root = "${dir}/runc"

[crio.network]
network_dir = "${dir}/cni"
plugin_dirs = ["/usr/lib/cni"]
`;
}

/**
 * The bridge plugin's settings of the test network: CRI-O's default network (its
 * 10-crio-bridge.conflist) without ipMasq, whose iptables rules tests would have to clean up.
 * bench/floor-pod.ts runs the plugin by hand with these same settings.
 */
export function testBridgePlugin(ipamDir: string, bridge: string, subnet: string): Record<string, unknown> {
  return {
    type: 'bridge',
    bridge,
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam: { type: 'host-local', dataDir: ipamDir, routes: [{ dst: '0.0.0.0/0' }], ranges: [[{ subnet }]] },
  };
}

function cniConfig(dir: string, bridge: string, subnet: string, portmap: boolean): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'crio-ts-test',
    plugins: [testBridgePlugin(`${dir}/ipam`, bridge, subnet), ...(portmap ? [{ type: 'portmap', capabilities: { portMappings: true } }] : [])],
  });
}

async function waitForSocket(d: { cri: CriClients; child: ChildProcess | undefined; logs: () => string }): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    if (!d.child || d.child.exitCode !== null) throw new Error(`crio exited during start-up:\n${d.logs()}`);
    try {
      await d.cri.runtime.version({}, 1000);
      return;
    } catch {
      if (Date.now() > until) throw new Error(`crio did not answer Version within 30s:\n${d.logs()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Unmounts every mount under `dir`, innermost first. */
export async function unmountUnder(dir: string): Promise<void> {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  const targets = mountinfo
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((t) => t === dir || t.startsWith(dir + '/'))
    .sort()
    .reverse();
  for (const t of targets) await runProgram('umount', ['-l', t]);
}

/** Starts a daemon for one test file. */
export async function startDaemon(options: TestDaemonOptions): Promise<TestDaemon> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-test-'));
  // As /var/lib and /run are: user-namespaced pods' roots must be able to traverse to their rootfs.
  await fs.chmod(dir, 0o711);
  const bridge = testBridge(options.netIndex);
  const subnet = `10.${TEST_SUBNET_OCTET}.${options.netIndex}.0/24`;
  await fs.mkdir(path.join(dir, 'crio.conf.d'), { recursive: true });
  await fs.mkdir(path.join(dir, 'cni'), { recursive: true });
  const socket = options.socket ?? path.join(dir, 'crio.sock');
  await fs.writeFile(path.join(dir, 'crio.conf'), baseConfig(dir, socket));
  if (options.dropIn) await fs.writeFile(path.join(dir, 'crio.conf.d', '50-test.conf'), options.dropIn);
  await fs.writeFile(path.join(dir, 'registries.conf'), options.registriesConf ?? '');
  // The host's /etc/containers/storage.conf must not decide where a test daemon's images go.
  await fs.writeFile(path.join(dir, 'storage.conf'), options.storageConf ?? `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/root"\nrunroot = "${dir}/run"\n`);
  if (!options.noCni) await fs.writeFile(path.join(dir, 'cni', '10-test.conflist'), cniConfig(dir, bridge, subnet, options.portmap ?? true));
  // The bridge plugin (isGateway) turns on IPv4 forwarding; put the host's setting back afterwards.
  const ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const logFile = path.join(dir, 'crio.log');
  let child: ChildProcess | undefined;
  let extraEnv = options.env ?? {};

  const launch = (): void => {
    const fd = openSync(logFile, 'a');
    child = spawn(
      process.execPath,
      [...shebangNodeArgs(firstLine(CRIO_JS)), ...(options.nodeArgs ?? []), CRIO_JS, '--config', path.join(dir, 'crio.conf'), '--config-dir', path.join(dir, 'crio.conf.d'), '--registries-conf', path.join(dir, 'registries.conf'), ...(options.args ?? [])],
      { stdio: ['ignore', fd, fd], env: { ...daemonLaunchEnv(), ...process.env, CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'), ...extraEnv } },
    );
    closeSync(fd);
  };
  const logs = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const waitExit = (signal: NodeJS.Signals): Promise<void> =>
    new Promise((resolve) => {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill(signal);
    });

  launch();
  const cri = connectCri(socket);
  await waitForSocket({ cri, child, logs });

  const daemon: TestDaemon = {
    dir,
    socket,
    bridge,
    subnet,
    cri,
    logs,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    restart: async (env) => {
      await waitExit('SIGTERM');
      if (env) extraEnv = env;
      launch();
      await waitForSocket({ cri, child, logs });
    },
    exited: () =>
      new Promise((resolve) => {
        const c = child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return resolve(c?.signalCode ?? c?.exitCode ?? null);
        c.once('exit', (code, signal) => resolve(signal ?? code));
      }),
    signal: (sig) => {
      child?.kill(sig);
    },
    pid: () => child?.pid,
    cleanup: async () => {
      try {
        if (child && child.exitCode === null) {
          const pods = await cri.runtime.listPodSandbox({});
          for (const p of pods.items) {
            await cri.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => undefined);
            await cri.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
          }
        }
      } finally {
        cri.close();
        await waitExit('SIGTERM');
        // A daemon that died mid-test could not remove its pods: kill what runc still runs for
        // it (their conmons exit with them) so no process outlives the test.
        const runcRoot = path.join(dir, 'runc');
        const left = await runProgram('runc', ['--root', runcRoot, 'list', '-q']).catch(() => undefined);
        for (const id of left?.stdout.toString().split('\n').filter(Boolean) ?? []) {
          await runProgram('runc', ['--root', runcRoot, 'delete', '--force', id]);
        }
        await unmountUnder(dir);
        await runProgram('ip', ['link', 'del', bridge]);
        await fs.writeFile('/proc/sys/net/ipv4/ip_forward', ipForward).catch(() => undefined);
        if (process.env.CRIO_TEST_KEEP === '1') {
          process.stderr.write(`CRIO_TEST_KEEP: kept ${dir}\n`);
        } else {
          await fs.rm(dir, { recursive: true, force: true });
        }
      }
    },
  };
  return daemon;
}
