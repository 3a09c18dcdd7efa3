import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { renderHostname, renderHosts, renderResolvConf, writePodFiles, type PodDnsConfig } from './pod-files';

const LOCALHOST =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';

const hostsCases: { name: string; hostname: string; ips: string[]; want: string }[] = [
  { name: 'no ips', hostname: 'web', ips: [], want: LOCALHOST },
  { name: 'one ipv4', hostname: 'web', ips: ['10.88.0.5'], want: LOCALHOST + '10.88.0.5\tweb\n' },
  { name: 'dual stack', hostname: 'web', ips: ['10.88.0.5', 'fd00::5'], want: LOCALHOST + '10.88.0.5\tweb\nfd00::5\tweb\n' },
  { name: 'empty hostname adds no pod line', hostname: '', ips: ['10.88.0.5'], want: LOCALHOST },
];
for (const c of hostsCases) test(`renderHosts: ${c.name}`, () => assert.equal(renderHosts(c), c.want));

const empty: PodDnsConfig = { servers: [], searches: [], options: [] };
const resolvCases: { name: string; dns?: PodDnsConfig; host?: string; want: string }[] = [
  { name: 'empty dns copies the host file', dns: empty, host: 'nameserver 1.1.1.1\n', want: 'nameserver 1.1.1.1\n' },
  { name: 'undefined dns copies the host file', host: 'search lan\n', want: 'search lan\n' },
  { name: 'empty dns and no host file', dns: empty, want: '' },
  {
    name: 'full config in CRI-O order',
    dns: { servers: ['10.96.0.10', '10.96.0.11'], searches: ['ns.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5', 'edns0'] },
    host: 'nameserver 9.9.9.9\n',
    want: 'search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 edns0\n',
  },
  { name: 'only options', dns: { servers: [], searches: [], options: ['ndots:2'] }, want: 'options ndots:2\n' },
];
for (const c of resolvCases) test(`renderResolvConf: ${c.name}`, () => assert.equal(renderResolvConf(c.dns, c.host), c.want));

test('renderHostname: adds a newline', () => assert.equal(renderHostname('web-0'), 'web-0\n'));

const writeCases: { name: string; hostNetwork: boolean; dns: PodDnsConfig; wantHosts: string; wantResolv: string }[] = [
  {
    name: 'pod network, own dns',
    hostNetwork: false,
    dns: { servers: ['10.96.0.10'], searches: [], options: [] },
    wantHosts: LOCALHOST + '10.88.0.9\tweb\n',
    wantResolv: 'nameserver 10.96.0.10\n',
  },
  { name: 'host network, host dns', hostNetwork: true, dns: empty, wantHosts: '127.0.0.1 node\n', wantResolv: 'nameserver 192.0.2.1\n' },
];
for (const c of writeCases) {
  test(`writePodFiles: ${c.name}`, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-podfiles-'));
    try {
      await fs.writeFile(path.join(dir, 'host-resolv'), 'nameserver 192.0.2.1\n');
      await fs.writeFile(path.join(dir, 'host-hosts'), '127.0.0.1 node\n');
      const out = path.join(dir, 'pod');
      const p = await writePodFiles(
        out,
        { hostname: 'web', ips: ['10.88.0.9'], dns: c.dns, hostNetwork: c.hostNetwork },
        {
          resolvConf: path.join(dir, 'host-resolv'),
          hosts: path.join(dir, 'host-hosts'),
        },
      );
      assert.deepEqual(p, {
        hostsPath: path.join(out, 'hosts'),
        resolvPath: path.join(out, 'resolv.conf'),
        hostnamePath: path.join(out, 'hostname'),
      });
      assert.equal(await fs.readFile(p.hostsPath, 'utf8'), c.wantHosts);
      assert.equal(await fs.readFile(p.resolvPath, 'utf8'), c.wantResolv);
      assert.equal(await fs.readFile(p.hostnamePath, 'utf8'), 'web\n');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test('writePodFiles: with the IPs still to come, resolv.conf and hostname are written first, hosts when they arrive', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-podfiles-'));
  try {
    let giveIps: (ips: string[]) => void = () => undefined;
    const ips = new Promise<string[]>((resolve) => (giveIps = resolve));
    const done = writePodFiles(dir, { hostname: 'web', ips, dns: { servers: ['10.96.0.10'], searches: [], options: [] } });
    // Wait for the two files that do not need the IPs (a condition, not a delay).
    for (;;) {
      const names = await fs.readdir(dir);
      if (names.includes('resolv.conf') && names.includes('hostname')) break;
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(!(await fs.readdir(dir)).includes('hosts'), 'hosts waits for the IPs');
    giveIps(['10.88.0.9']);
    const p = await done;
    assert.equal(await fs.readFile(p.hostsPath, 'utf8'), LOCALHOST + '10.88.0.9\tweb\n');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('writePodFiles: a failed network fails it, after the other writes settled (no temp file left behind)', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-podfiles-'));
  try {
    await assert.rejects(
      writePodFiles(dir, { hostname: 'web', ips: Promise.reject(new Error('CNI ADD failed')), dns: { servers: ['10.96.0.10'], searches: [], options: [] } }),
      /CNI ADD failed/,
    );
    assert.deepEqual((await fs.readdir(dir)).sort(), ['hostname', 'resolv.conf']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
