import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { backgroundContext } from '../../lib/context';
import { nullLogger } from '../../lib/log';
import { CniManager, type CniPodRequest } from '../../lib/network/cni';
import { createPodNamespaces, removePodNamespaces, unmountNamespaceDirs, type PodNamespaces } from '../../lib/network/namespaces';
import { runProgram } from '../../lib/process';
import { testBridge, TEST_SUBNET_OCTET } from '../harness/slot';

/*
 * Pod namespaces + CNI with Debian's real plugins (/usr/lib/cni): a bridge `crts-test0` with
 * host-local IPAM on 10.88.77.0/24 whose state lives in a temp dir. Everything the test makes
 * (namespaces, the bridge, temp dirs, the ip_forward sysctl the bridge plugin turns on) is
 * undone in `after`. The only address contacted is the pod's own, inside our namespace.
 */

const CNI_BIN = '/usr/lib/cni';
const BRIDGE = testBridge('-test0');
const NETWORK = 'crts-test';
const SUBNET_RE = new RegExp(`^10\\.${TEST_SUBNET_OCTET}\\.77\\.\\d+$`);
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !['bridge', 'host-local', 'loopback'].every((p) => existsSync(path.join(CNI_BIN, p)))
      ? `CNI plugins missing in ${CNI_BIN} (apt-get install containernetworking-plugins)`
      : false;

const ctx = backgroundContext(nullLogger());
let tmp = '';
let nsDir = '';
let ipamDir = '';
let failBin = '';
let ipForwardBefore: string | undefined;
const created: PodNamespaces[] = [];

function conflist(extraPlugins: Record<string, unknown>[] = []): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: `10.${TEST_SUBNET_OCTET}.77.0/24` }]], dataDir: ipamDir },
      },
      ...extraPlugins,
    ],
  });
}

async function newManager(name: string, extraPlugins: Record<string, unknown>[] = [], pluginDirs = [CNI_BIN]): Promise<CniManager> {
  const netDir = path.join(tmp, `net-${name}.d`);
  await fs.mkdir(netDir, { recursive: true });
  await fs.writeFile(path.join(netDir, '10-crts.conflist'), conflist(extraPlugins));
  const m = new CniManager({
    networkDir: netDir,
    pluginDirs,
    cacheDir: path.join(tmp, 'cni-cache'),
    defaultNetwork: '',
    log: nullLogger(),
  });
  await m.reload();
  return m;
}

async function newPod(id: string, hostname: string): Promise<{ ns: PodNamespaces; req: CniPodRequest }> {
  const ns = await createPodNamespaces({ namespacesDir: nsDir, podSandboxId: id, net: true, ipc: true, uts: true, hostname });
  created.push(ns);
  assert.ok(ns.net && ns.ipc && ns.uts);
  return { ns, req: { podSandboxId: id, name: hostname, namespace: 'default', uid: `uid-${id}`, netnsPath: ns.net } };
}

/** IPs host-local has reserved in our temp dataDir. */
async function reservedIps(): Promise<string[]> {
  const names = await fs.readdir(path.join(ipamDir, NETWORK)).catch(() => [] as string[]);
  return names.filter((n) => SUBNET_RE.test(n)).sort();
}

async function run(file: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await runProgram(file, args, { timeoutMs: 20_000 });
  return { code: r.exitCode, out: r.stdout.toString('utf8') + r.stderr.toString('utf8') };
}

before(async () => {
  if (skip) return;
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-net-'));
  nsDir = path.join(tmp, 'ns');
  ipamDir = path.join(tmp, 'ipam');
  failBin = path.join(tmp, 'bin');
  await fs.mkdir(failBin);
  // A plugin that always fails ADD the CNI way (error document on stdout, non-zero exit).
  await fs.writeFile(
    path.join(failBin, 'crts-fail'),
    '#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\necho \'{"cniVersion":"1.0.0","code":999,"msg":"crts-fail says no"}\'\nexit 1\n',
    { mode: 0o755 },
  );
  ipForwardBefore = await fs.readFile(IP_FORWARD, 'utf8').catch(() => undefined);
});

after(async () => {
  if (skip) return;
  for (const ns of created) await removePodNamespaces(ns).catch(() => undefined);
  if ((await run('ip', ['link', 'show', BRIDGE])).code === 0) await run('ip', ['link', 'del', BRIDGE]);
  if (nsDir !== '') await unmountNamespaceDirs(nsDir).catch(() => undefined);
  if (ipForwardBefore !== undefined) await fs.writeFile(IP_FORWARD, ipForwardBefore).catch(() => undefined);
  if (tmp !== '') await fs.rm(tmp, { recursive: true, force: true });
});

test('pod namespaces: files pinned, hostname set in the UTS namespace', { skip }, async () => {
  const { ns } = await newPod('crtsnspod', 'crts-ns-pod');
  for (const f of [ns.net, ns.ipc, ns.uts]) assert.ok(f && existsSync(f), `${f} exists`);
  const h = await run('nsenter', [`--uts=${ns.uts ?? ''}`, 'hostname']);
  assert.equal(h.out.trim(), 'crts-ns-pod');
  assert.notEqual(os.hostname(), 'crts-ns-pod');
  await removePodNamespaces(ns);
  for (const f of [ns.net, ns.ipc, ns.uts]) assert.ok(f && !existsSync(f), `${f} removed`);
  await removePodNamespaces(ns); // already gone: ok
});

test('setUpPod attaches the pod to the bridge; tearDownPod frees the IP; a second tearDown is ok', { skip }, async () => {
  const m = await newManager('ok');
  assert.deepEqual(m.status(), { ready: true });
  const { ns, req } = await newPod('crtspod1', 'crts-pod-1');
  const { ips } = await m.setUpPod(req, ctx);
  assert.equal(ips.length, 1);
  assert.match(ips[0], SUBNET_RE);

  const addr = await run('nsenter', [`--net=${ns.net ?? ''}`, 'ip', '-4', 'addr', 'show']);
  assert.ok(addr.out.includes(`inet ${ips[0]}/24`), addr.out);
  const lo = await run('nsenter', [`--net=${ns.net ?? ''}`, 'ip', 'link', 'show', 'lo']);
  assert.match(lo.out, /<[^>]*\bUP\b[^>]*>/);
  const host = await run('nsenter', [`--uts=${ns.uts ?? ''}`, 'hostname']);
  assert.equal(host.out.trim(), 'crts-pod-1');
  const ping = await run('ping', ['-c1', '-W2', ips[0]]);
  assert.equal(ping.code, 0, ping.out);
  assert.deepEqual(await reservedIps(), [ips[0]]);

  await m.tearDownPod(req, ctx);
  assert.deepEqual(await reservedIps(), []);
  await m.tearDownPod(req, ctx);
  await removePodNamespaces(ns);
});

test('tearDownPod after the netns file is gone still frees the IP', { skip }, async () => {
  const m = await newManager('gone');
  const { ns, req } = await newPod('crtspod2', 'crts-pod-2');
  const { ips } = await m.setUpPod(req, ctx);
  assert.deepEqual(await reservedIps(), ips);
  await removePodNamespaces(ns);
  assert.ok(!existsSync(req.netnsPath));
  await m.tearDownPod(req, ctx);
  assert.deepEqual(await reservedIps(), []);
});

test('a config naming a plugin that does not exist: not ready, setUp throws, no IP reserved', { skip }, async () => {
  const m = await newManager('missing', [{ type: 'crts-no-such-plugin' }]);
  const st = m.status();
  assert.equal(st.ready, false);
  assert.equal(st.reason, 'NetworkPluginNotReady');
  const { ns, req } = await newPod('crtspod3', 'crts-pod-3');
  await assert.rejects(m.setUpPod(req, ctx), /Network plugin returns error/);
  assert.deepEqual(await reservedIps(), []);
  await removePodNamespaces(ns);
});

test('a plugin failing after bridge: setUp throws with its message, the bridge ADD is rolled back', { skip }, async () => {
  const m = await newManager('fail', [{ type: 'crts-fail' }], [CNI_BIN, failBin]);
  const { ns, req } = await newPod('crtspod4', 'crts-pod-4');
  await assert.rejects(m.setUpPod(req, ctx), /CNI plugin crts-fail ADD failed: crts-fail says no/);
  assert.deepEqual(await reservedIps(), []);
  const eth0 = await run('nsenter', [`--net=${ns.net ?? ''}`, 'ip', 'link', 'show', 'eth0']);
  assert.notEqual(eth0.code, 0, 'eth0 removed from the pod netns');
  await m.tearDownPod(req, ctx); // nothing cached any more: still ok
  await removePodNamespaces(ns);
});
