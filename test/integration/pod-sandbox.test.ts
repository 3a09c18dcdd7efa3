import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { NamespaceMode, PodSandboxState, Protocol } from '../../lib/cri/gen/api';
import { runProgram } from '../../lib/process';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage } from '../harness/test-images';
import { inSubnet, TEST_SLOT } from '../harness/slot';

/**
 * Pod sandboxes as the kubelet uses them: the infra (pause) container for PID mode POD,
 * namespaces shared by the pod's containers, CNI bridge networking with host ports, sysctls,
 * DNS and hosts files, idempotent stop/remove, no IP leaked by a failed RunPodSandbox, restart,
 * and a second runtime handler (crun).
 */

/** Outside the daemon's temp dir on purpose (a handler's own root); one per test slot. */
const ALT_RUNC_ROOT = `/run/crio-ts-test-runc-alt${TEST_SLOT || ''}`;
let registry: TestRegistry;
let daemon: TestDaemon;
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;

function podConfig(name: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'ns1', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'pod-logs', name),
    dnsConfig: { servers: ['10.96.0.10'], searches: ['ns1.svc.cluster.local'], options: ['ndots:5'] },
    ...extra,
  };
}

async function exec(containerId: string, cmd: string[]): Promise<string> {
  const r = await daemon.cri.runtime.execSync({ containerId, cmd, timeout: 10n });
  assert.equal(r.exitCode, 0, `${cmd.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

async function startContainer(podSandboxId: string, name: string, command: string[]): Promise<string> {
  const { containerId } = await daemon.cri.runtime.createContainer({
    podSandboxId,
    config: { metadata: { name }, image: { image: 'busybox' }, command, logPath: `${name}.log` },
  });
  await daemon.cri.runtime.startContainer({ containerId });
  return containerId;
}

function httpGet(host: string, port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function reservedIps(): Promise<string[]> {
  const dir = path.join(daemon.dir, 'ipam', 'crio-ts-test');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));
}

async function waitFor(fn: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  registry = await startRegistry();
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  daemon = await startDaemon({
    netIndex: 212,
    registriesConf: [
      `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
      `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`,
    ].join('\n'),
    dropIn: [
      `[crio.image]\npause_image = "${registry.host}/test/pause:1"\n`,
      // A second handler. (crun 1.8 refuses this host's hybrid cgroups, so it is runc again.)
      `[crio.runtime.runtimes.runc-alt]\nruntime_path = "/usr/sbin/runc"\nruntime_root = "${ALT_RUNC_ROOT}"\n`,
    ].join('\n'),
  });
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
  await fs.rm(ALT_RUNC_ROOT, { recursive: true, force: true });
});

test('a RunPodSandbox that fails after CNI ADD leaks no IP and leaves no pod', async () => {
  // The pause image is not in the registry yet: the infra container fails after the network is up.
  await assert.rejects(daemon.cri.runtime.runPodSandbox({ config: podConfig('nopause') }), (err: { code: number; details: string }) => {
    assert.equal(err.code, grpcStatus.NOT_FOUND);
    assert.match(err.details, /pause/);
    return true;
  });
  assert.deepEqual(await reservedIps(), []);
  assert.equal((await daemon.cri.runtime.listPodSandbox({})).items.length, 0);
  await registry.push('test/pause', '1', await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'pause', content: PAUSE, mode: 0o755 }] }] }));
});

test('PID mode POD: the pause process is PID 1 and containers share net, IPC and localhost', async () => {
  const hostPort = await freePort();
  const cfg = podConfig('web', {
    portMappings: [{ protocol: Protocol.TCP, containerPort: 8080, hostPort, hostIp: '127.0.0.1' }],
    linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' } },
  });
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: cfg });
  const status = await daemon.cri.runtime.podSandboxStatus({ podSandboxId });
  const ip = status.status?.network?.ip ?? '';
  assert.match(ip, inSubnet(daemon.subnet));
  assert.equal((await reservedIps()).length, 1);

  const server = await startContainer(podSandboxId, 'server', ['httpd', '-f', '-p', '8080', '-h', '/etc']);
  const client = await startContainer(podSandboxId, 'client', ['sleep', '1000']);

  const ps = await exec(client, ['ps', '-o', 'pid,args']);
  assert.match(ps, /^\s*1\s+.*\/bin\/sh \/pause$/m, ps);
  const ns = async (id: string, kind: string) => (await exec(id, ['readlink', `/proc/self/ns/${kind}`])).trim();
  for (const kind of ['net', 'ipc', 'uts', 'pid']) assert.equal(await ns(server, kind), await ns(client, kind), kind);

  // Localhost between containers, the pod IP from the host, and the host port on 127.0.0.1.
  await waitFor(async () => (await exec(client, ['wget', '-qO-', 'http://127.0.0.1:8080/hostname'])).trim() === 'web', 'httpd');
  assert.equal((await httpGet(ip, 8080, '/hostname')).trim(), 'web');
  assert.equal((await httpGet('127.0.0.1', hostPort, '/hostname')).trim(), 'web');

  // Sysctls land in the pod's namespaces, not the host's.
  assert.equal((await exec(client, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).trim(), '0');
  assert.equal((await exec(client, ['cat', '/proc/sys/kernel/shm_rmid_forced'])).trim(), '1');
  assert.notEqual((await fs.readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).trim(), '0');

  const hosts = await exec(client, ['cat', '/etc/hosts']);
  assert.match(hosts, new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+web$`, 'm'));
  const resolv = await exec(client, ['cat', '/etc/resolv.conf']);
  assert.match(resolv, /^nameserver 10\.96\.0\.10$/m);
  assert.match(resolv, /^options ndots:5$/m);
  assert.match(await exec(client, ['df', '/dev/shm']), /shm/);

  // Restart keeps state, IPs and created-at; the pod still works.
  await daemon.restart();
  const again = await daemon.cri.runtime.podSandboxStatus({ podSandboxId });
  assert.equal(again.status?.state, PodSandboxState.SANDBOX_READY);
  assert.equal(again.status?.network?.ip, ip);
  assert.equal(again.status?.createdAt, status.status?.createdAt);
  assert.equal((await httpGet(ip, 8080, '/hostname')).trim(), 'web');

  for (let i = 0; i < 2; i++) await daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  assert.deepEqual(await reservedIps(), []);
  for (let i = 0; i < 2; i++) await daemon.cri.runtime.removePodSandbox({ podSandboxId });
  const left = await runProgram('pgrep', ['-f', podSandboxId]);
  assert.equal(left.stdout.toString().trim(), '', 'no conmon or pause process of the pod is left');
});

test('PID mode CONTAINER with drop_infra_ctr runs no pause process', async () => {
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({
    config: podConfig('nopid', { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }),
  });
  const c = await startContainer(podSandboxId, 'c', ['sleep', '1000']);
  assert.match(await exec(c, ['ps', '-o', 'pid,args']), /^\s*1\s+sleep 1000$/m);
  const bundles = await fs.readdir(path.join(daemon.dir, 'run', 'crio-bundles'));
  assert.ok(!bundles.includes(podSandboxId), 'no infra bundle');
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('hostnames: none given means the first 12 characters of the pod ID (as CRI-O); underscores are fine', async () => {
  const pid = { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
  const unnamed = await daemon.cri.runtime.runPodSandbox({ config: podConfig('Unnamed-Pod-With-A-Long-Name', { hostname: '', ...pid }) });
  const c1 = await startContainer(unnamed.podSandboxId, 'c', ['sleep', '1000']);
  assert.equal((await exec(c1, ['hostname'])).trim(), unnamed.podSandboxId.slice(0, 12));
  assert.equal((await exec(c1, ['cat', '/etc/hostname'])).trim(), unnamed.podSandboxId.slice(0, 12));
  const underscore = await daemon.cri.runtime.runPodSandbox({ config: podConfig('underscore', { hostname: 'crictl_host', ...pid }) });
  const c2 = await startContainer(underscore.podSandboxId, 'c', ['sleep', '1000']);
  assert.equal((await exec(c2, ['hostname'])).trim(), 'crictl_host');
  for (const p of [unnamed, underscore]) await daemon.cri.runtime.removePodSandbox(p);
});

test('sysctls that are not namespaced, or smuggle a second assignment, are refused', async () => {
  for (const sysctls of [{ 'kernel.pid_max': '4000' }, { 'net.ipv4.ip_forward': '1+kernel.pid_max=4000' }]) {
    await assert.rejects(daemon.cri.runtime.runPodSandbox({ config: podConfig('bad', { linux: { sysctls } }) }), (err: { code: number }) => {
      assert.equal(err.code, grpcStatus.INVALID_ARGUMENT);
      return true;
    });
  }
  assert.equal((await daemon.cri.runtime.listPodSandbox({})).items.length, 0);
});

test('a second runtime handler runs pods with its own runtime root; an unknown handler is refused', async () => {
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: podConfig('viaalt'), runtimeHandler: 'runc-alt' });
  const c = await startContainer(podSandboxId, 'c', ['sleep', '1000']);
  assert.equal((await exec(c, ['echo', 'alt ok'])).trim(), 'alt ok');
  assert.equal((await daemon.cri.runtime.podSandboxStatus({ podSandboxId })).status?.runtimeHandler, 'runc-alt');
  const states = await fs.readdir(ALT_RUNC_ROOT);
  assert.ok(states.includes(c) && states.includes(podSandboxId), 'container and infra live under the handler\'s runtime_root');
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
  await assert.rejects(daemon.cri.runtime.runPodSandbox({ config: podConfig('x'), runtimeHandler: 'kata' }), /kata/);
});

test('NetworkReady follows the CNI config directory: false with a reason, true once a config appears', async () => {
  const d = await startDaemon({ netIndex: 213, noCni: true });
  try {
    const ready = async () => {
      const st = await d.cri.runtime.status({});
      return st.status?.conditions.find((c) => c.type === 'NetworkReady');
    };
    const before = await ready();
    assert.equal(before?.status, false);
    assert.equal(before?.reason, 'NetworkPluginNotReady');
    assert.match(before?.message ?? '', /No CNI configuration file/);
    const conf = { cniVersion: '1.0.0', name: 'late', plugins: [{ type: 'bridge', bridge: d.bridge, ipam: { type: 'host-local', ranges: [[{ subnet: d.subnet }]] } }] };
    await fs.writeFile(path.join(d.dir, 'cni', '20-late.conflist'), JSON.stringify(conf));
    await waitFor(async () => (await ready())?.status === true, 'NetworkReady');
  } finally {
    await d.cleanup();
  }
});

test('a RunPodSandbox retried after the client timed out gets the same pod, created once', async () => {
  const cfg = podConfig('retry');
  await assert.rejects(daemon.cri.runtime.runPodSandbox({ config: cfg }, 30), (err: { code: number }) => {
    assert.equal(err.code, grpcStatus.DEADLINE_EXCEEDED);
    return true;
  });
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: cfg });
  const pods = (await daemon.cri.runtime.listPodSandbox({})).items.filter((p) => p.metadata?.name === 'retry');
  assert.deepEqual(pods.map((p) => p.id), [podSandboxId]);
  assert.equal((await daemon.cri.runtime.podSandboxStatus({ podSandboxId })).status?.state, PodSandboxState.SANDBOX_READY);
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
});
