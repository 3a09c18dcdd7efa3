import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { unmountUnder } from '../harness/daemon';

/**
 * The real kubelet (v1.26.1) in standalone mode for the node e2e suite: static pods from a
 * directory, no apiserver, its HTTP server on 127.0.0.1 (read-only port, anonymous access), the
 * CRI endpoint CRI-O nodes use (so its stats come from cAdvisor and CRI-O's inspect API). The
 * facts come from the team's kubelet-standalone.sh: cgroupfs without QoS cgroups on this host,
 * no iptables chains, and the kernel settings the kubelet changes at start are put back.
 * Everything it writes is under its own directory except /var/log/pods and /var/log/containers
 * (hard-coded in the kubelet), which the suite cleans by namespace.
 */

export const CRI_ENDPOINT = 'unix:///var/run/crio/crio.sock';
export const PORTS = { api: 10250, readOnly: 10255, healthz: 10248 };
/** What the kubelet's container manager writes at start (protectKernelDefaults: false). */
const KUBELET_SYSCTLS: Record<string, string> = {
  'vm.overcommit_memory': '1',
  'vm.panic_on_oom': '0',
  'kernel.panic': '10',
  'kernel.panic_on_oops': '1',
  'kernel.keys.root_maxkeys': '1000000',
  'kernel.keys.root_maxbytes': '25000000',
};

export interface KubeletOptions {
  binary: string;
  /** Everything of the kubelet's lives here (root dir, certificates, manifests, config, log). */
  dir: string;
  nodeName: string;
  pauseImage: string;
}

/** A kubelet that can be stopped and started again on the same directory. */
export interface Kubelet {
  manifests: string;
  logFile: string;
  /** The log text so far (every start appends). */
  logs(): string;
  start(): Promise<void>;
  /** SIGTERM, SIGKILL after 30 s. */
  stop(): Promise<void>;
  /** Stops it, puts the kernel settings back and unmounts what it left mounted. */
  cleanup(): Promise<void>;
}

function configYaml(o: KubeletOptions, manifests: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: ${manifests}
fileCheckFrequency: 2s
syncFrequency: 10s
address: 127.0.0.1
port: ${PORTS.api}
readOnlyPort: ${PORTS.readOnly}
healthzBindAddress: 127.0.0.1
healthzPort: ${PORTS.healthz}
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
kernelMemcgNotification: false
protectKernelDefaults: false
localStorageCapacityIsolation: true
makeIPTablesUtilChains: false
volumePluginDir: ${path.join(o.dir, 'volume-plugins')}
runtimeRequestTimeout: 2m
serializeImagePulls: false
# Image GC on every round (the disk is far above 1 %): unused images older than the minimum age go.
imageGCHighThresholdPercent: 1
imageGCLowThresholdPercent: 0
imageMinimumGCAge: 1m
`;
}

async function sysctl(name: string): Promise<string> {
  return (await fs.readFile(path.join('/proc/sys', name.replace(/\./g, '/')), 'utf8')).trim();
}

async function setSysctl(name: string, value: string): Promise<void> {
  await fs.writeFile(path.join('/proc/sys', name.replace(/\./g, '/')), value);
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function healthy(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: PORTS.healthz, path: '/healthz', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Prepares the kubelet's directory; nothing runs until start(). */
export async function createKubelet(o: KubeletOptions): Promise<Kubelet> {
  const manifests = path.join(o.dir, 'manifests');
  const root = path.join(o.dir, 'root');
  const logFile = path.join(o.dir, 'kubelet.log');
  const conf = path.join(o.dir, 'kubelet-config.yaml');
  for (const d of [manifests, root, path.join(o.dir, 'volume-plugins')]) await fs.mkdir(d, { recursive: true });
  await fs.writeFile(conf, configYaml(o, manifests));
  const saved = new Map<string, string>();
  for (const s of Object.keys(KUBELET_SYSCTLS)) saved.set(s, await sysctl(s));
  let child: ChildProcess | undefined;

  const restoreSysctls = async (): Promise<void> => {
    for (const [s, v] of saved) if ((await sysctl(s)) !== v) await setSysctl(s, v);
  };
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
  const logs = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || !running()) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };

  return {
    manifests,
    logFile,
    logs,
    start: async () => {
      if (running()) throw new Error('kubelet already running');
      const fd = openSync(logFile, 'a');
      child = spawn(
        o.binary,
        [
          `--config=${conf}`,
          `--container-runtime-endpoint=${CRI_ENDPOINT}`,
          `--image-service-endpoint=${CRI_ENDPOINT}`,
          `--pod-infra-container-image=${o.pauseImage}`,
          `--root-dir=${root}`,
          `--cert-dir=${path.join(o.dir, 'pki')}`,
          `--hostname-override=${o.nodeName}`,
          `--lock-file=${path.join(o.dir, 'kubelet.lock')}`,
          '--v=2',
        ],
        { stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      const until = Date.now() + 120_000;
      while (!(await healthy())) {
        if (!running()) throw new Error(`the kubelet exited during start-up:\n${logs().slice(-4000)}`);
        if (Date.now() > until) throw new Error(`the kubelet did not answer /healthz within 120 s:\n${logs().slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      // The container manager sets its kernel tunables once, after the first good runtime
      // status; put the host's values back as soon as it has (the host is shared).
      const differing = [...saved].filter(([s, v]) => KUBELET_SYSCTLS[s] !== v).map(([s]) => s);
      const until2 = Date.now() + 60_000;
      while (differing.length > 0 && Date.now() < until2 && !/Failed to start ContainerManager/.test(logs())) {
        const now = await Promise.all(differing.map(sysctl));
        if (now.every((v, i) => v === KUBELET_SYSCTLS[differing[i] ?? ''])) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await restoreSysctls();
    },
    stop,
    cleanup: async () => {
      await stop();
      await restoreSysctls();
      // The kubelet bind-mounts its root dir onto itself (rshared); pod volumes live below it.
      await unmountUnder(root);
    },
  };
}
