import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodNamespaces } from './namespaces';
import { unshareArgs, type NamespaceSetup } from './pod-ns-make';

// The unshare(1) fallback (no perl system call numbers for this architecture).
const argCases: { name: string; ns: PodNamespaces; setup?: NamespaceSetup; want: string[] }[] = [
  {
    name: 'all with hostname',
    ns: { net: '/r/netns/p', ipc: '/r/ipcns/p', uts: '/r/utsns/p' },
    setup: { hostname: 'web-0' },
    want: ['--net=/r/netns/p', '--ipc=/r/ipcns/p', '--uts=/r/utsns/p', '/bin/sh', '-ec', "'printf' '%s' 'web-0' > '/proc/sys/kernel/hostname'"],
  },
  { name: 'uts without hostname', ns: { uts: '/r/utsns/p' }, want: ['--uts=/r/utsns/p', 'true'] },
  { name: 'hostname ignored without uts', ns: { ipc: '/r/ipcns/p' }, setup: { hostname: 'x' }, want: ['--ipc=/r/ipcns/p', 'true'] },
  { name: 'loopback only', ns: { net: '/r/netns/p' }, setup: { loopbackUp: true }, want: ['--net=/r/netns/p', 'ip', 'link', 'set', 'lo', 'up'] },
  { name: 'loopback ignored without netns', ns: { ipc: '/r/ipcns/p' }, setup: { loopbackUp: true }, want: ['--ipc=/r/ipcns/p', 'true'] },
  {
    name: 'hostname, loopback and shm in one shell script, words quoted',
    ns: { net: '/r/netns/p', ipc: '/r/ipcns/p', uts: '/r/utsns/p' },
    setup: { hostname: 'web-0', loopbackUp: true, shm: { path: "/run/pods/it's/shm", sizeBytes: 65536 } },
    want: [
      '--net=/r/netns/p',
      '--ipc=/r/ipcns/p',
      '--uts=/r/utsns/p',
      '/bin/sh',
      '-ec',
      "'printf' '%s' 'web-0' > '/proc/sys/kernel/hostname'\n'ip' 'link' 'set' 'lo' 'up'\n'mount' '-i' '-t' 'tmpfs' '-o' 'rw,nosuid,nodev,noexec,mode=1777,size=65536' 'shm' '/run/pods/it'\\''s/shm'",
    ],
  },
  {
    name: 'sysctls are written inside the namespaces through /proc/sys',
    ns: { net: '/r/netns/p', ipc: '/r/ipcns/p' },
    setup: { sysctls: [{ path: 'net/ipv4/ip_unprivileged_port_start', value: '0' }] },
    want: ['--net=/r/netns/p', '--ipc=/r/ipcns/p', '/bin/sh', '-ec', "'printf' '%s\\n' '0' > '/proc/sys/net/ipv4/ip_unprivileged_port_start'"],
  },
];
for (const c of argCases) test(`unshareArgs: ${c.name}`, () => assert.deepEqual(unshareArgs(c.ns, c.setup), c.want));

test('unshareArgs never pins a user namespace itself (the userns helper does)', () => {
  assert.deepEqual(unshareArgs({ net: '/n', user: '/u' }), ['--net=/n', 'true']);
});
