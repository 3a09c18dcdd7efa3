import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podPinnsArgs, type PinnedFiles, type PinnsSetup } from './pod-pinns';

// The script itself runs in test/integration/pod-sandbox.test.ts (hostname, lo, sysctls, /dev/shm of real pods).
const cases: { name: string; ns: PinnedFiles; setup: PinnsSetup; want: string[] }[] = [
  {
    name: 'all three namespaces, hostname, lo, shm and a sysctl',
    ns: { net: '/r/netns/p', ipc: '/r/ipcns/p', uts: '/r/utsns/p' },
    setup: { hostname: 'web-0', loopbackUp: true, shm: { path: '/run/pods/p/shm', sizeBytes: 65536.7 }, sysctls: [{ path: 'net/ipv4/ip_unprivileged_port_start', value: '0' }] },
    want: ['272,165,170', 'net=/r/netns/p,ipc=/r/ipcns/p,uts=/r/utsns/p', 'web-0', '1', '/run/pods/p/shm|mode=1777,size=65536', 'net/ipv4/ip_unprivileged_port_start=0'],
  },
  { name: 'hostname and lo ignored without their namespaces', ns: { ipc: '/r/ipcns/p' }, setup: { hostname: 'x', loopbackUp: true }, want: ['272,165,170', 'ipc=/r/ipcns/p', '', '', ''] },
  { name: 'nothing to do inside', ns: { net: '/r/netns/p', uts: '/r/utsns/p' }, setup: {}, want: ['272,165,170', 'net=/r/netns/p,uts=/r/utsns/p', '', '', ''] },
];
for (const c of cases) {
  test(`podPinnsArgs: ${c.name}`, () => {
    const args = podPinnsArgs(c.ns, c.setup, 'x64');
    assert.ok(args);
    assert.equal(args[0], '-e');
    assert.equal(args[2], '--');
    assert.deepEqual(args.slice(3), c.want);
  });
}

test('podPinnsArgs: arm64 system call numbers', () => {
  assert.equal(podPinnsArgs({ net: '/n' }, {}, 'arm64')?.[3], '97,40,161');
});

test('podPinnsArgs: undefined (unshare(1) is used) on an unlisted architecture or with a user namespace', () => {
  assert.equal(podPinnsArgs({ net: '/n' }, {}, 'riscv64'), undefined);
  assert.equal(podPinnsArgs({ net: '/n', user: '/u' }, {}, 'x64'), undefined);
});
