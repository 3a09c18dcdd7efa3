import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clampPingGroupRange, parseSysctlList, resolvePodSysctls, sysctlNamespace } from './sysctls';

const nsCases: [string, string | undefined][] = [
  ['net.ipv4.ip_forward', 'net'],
  ['net/ipv4/conf/eth0.100/forwarding', 'net'],
  ['kernel.shmmax', 'ipc'],
  ['fs.mqueue.msg_max', 'ipc'],
  ['kernel.hostname', 'uts'],
  ['kernel.pid_max', undefined],
  ['vm.swappiness', undefined],
];
for (const [key, want] of nsCases) test(`sysctlNamespace ${key}`, () => assert.equal(sysctlNamespace(key), want));

const host = { network: false, ipc: false };
const cases: { name: string; pod: Record<string, string>; defaults?: Record<string, string>; host?: typeof host; apply?: [string, string][]; skipped?: string[]; error?: RegExp }[] = [
  { name: 'dotted key → path', pod: { 'net.ipv4.ip_unprivileged_port_start': '0' }, apply: [['net/ipv4/ip_unprivileged_port_start', '0']] },
  { name: 'slash key keeps dots in components', pod: { 'net/ipv4/conf/eth0.100/forwarding': '1' }, apply: [['net/ipv4/conf/eth0.100/forwarding', '1']] },
  { name: 'value with spaces (kernel.sem)', pod: { 'kernel.sem': '250 32000 100 128' }, apply: [['kernel/sem', '250 32000 100 128']] },
  { name: 'pod overrides default', defaults: { 'kernel.shmmni': '10' }, pod: { 'kernel.shmmni': '20' }, apply: [['kernel/shmmni', '20']] },
  { name: 'host network skips net and uts keys', pod: { 'net.ipv4.ping_group_range': '0 0', 'kernel.msgmax': '9000' }, host: { network: true, ipc: false }, apply: [['kernel/msgmax', '9000']], skipped: ['net.ipv4.ping_group_range'] },
  { name: 'host ipc skips ipc keys', pod: { 'kernel.shmmax': '1' }, host: { network: false, ipc: true }, apply: [], skipped: ['kernel.shmmax'] },
  { name: 'non-namespaced key refused', pod: { 'kernel.pid_max': '100' }, error: /"kernel\.pid_max" is not namespaced/ },
  { name: 'second assignment smuggled with +', pod: { 'net.ipv4.ip_forward': '1+kernel.pid_max=10' }, error: /forbidden character/ },
  { name: 'second assignment smuggled with newline', pod: { 'net.ipv4.ip_forward': '1\nkernel.pid_max=10' }, error: /forbidden character/ },
  { name: 'path traversal in key', pod: { 'net/../kernel/pid_max': '1' }, error: /invalid/ },
];
for (const c of cases) {
  test(`resolvePodSysctls: ${c.name}`, () => {
    const run = () => resolvePodSysctls(c.defaults ?? {}, c.pod, c.host ?? host);
    if (c.error) return assert.throws(run, c.error);
    const r = run();
    assert.deepEqual(r.apply.map((s) => [s.path, s.value]), c.apply);
    assert.deepEqual(r.skipped, c.skipped ?? []);
  });
}

test('parseSysctlList', () => {
  assert.deepEqual(parseSysctlList(['net.ipv4.ping_group_range=0 2147483647']), { 'net.ipv4.ping_group_range': '0 2147483647' });
  assert.throws(() => parseSysctlList(['nokey']), /not key=value/);
});

const pingCases: { name: string; value: string; gids: number; want: string }[] = [
  { name: 'the usual 0 2147483647 is cut to the pod gids', value: '0 2147483647', gids: 65536, want: '0\t65535' },
  { name: 'a range inside stays', value: '10 20', gids: 65536, want: '10\t20' },
  { name: 'a malformed value is left for the kernel to refuse', value: 'x y', gids: 65536, want: 'x y' },
];
for (const c of pingCases) {
  test(`clampPingGroupRange: ${c.name}`, () => {
    const [out] = clampPingGroupRange([{ key: 'net.ipv4.ping_group_range', path: 'net/ipv4/ping_group_range', value: c.value }], c.gids);
    assert.equal(out?.value, c.want);
  });
}

test('clampPingGroupRange leaves other sysctls alone', () => {
  const s = { key: 'net.ipv4.ip_forward', path: 'net/ipv4/ip_forward', value: '0 2147483647' };
  assert.deepEqual(clampPingGroupRange([s], 10), [s]);
});
