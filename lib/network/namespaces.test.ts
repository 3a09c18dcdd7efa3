import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podNamespacePaths, unshareArgs, type PodNamespaces } from './namespaces';

const pathCases: { name: string; which: { net: boolean; ipc: boolean; uts: boolean }; want: PodNamespaces }[] = [
  {
    name: 'all three',
    which: { net: true, ipc: true, uts: true },
    want: { net: '/var/run/netns/p1', ipc: '/var/run/ipcns/p1', uts: '/var/run/utsns/p1' },
  },
  { name: 'ipc only (host network)', which: { net: false, ipc: true, uts: false }, want: { ipc: '/var/run/ipcns/p1' } },
  { name: 'none', which: { net: false, ipc: false, uts: false }, want: {} },
];
for (const c of pathCases)
  test(`podNamespacePaths: ${c.name}`, () => assert.deepEqual(podNamespacePaths('/var/run', 'p1', c.which), c.want));

const argCases: { name: string; ns: PodNamespaces; hostname?: string; want: string[] }[] = [
  {
    name: 'all with hostname',
    ns: { net: '/r/netns/p', ipc: '/r/ipcns/p', uts: '/r/utsns/p' },
    hostname: 'web-0',
    want: ['--net=/r/netns/p', '--ipc=/r/ipcns/p', '--uts=/r/utsns/p', 'hostname', 'web-0'],
  },
  { name: 'uts without hostname', ns: { uts: '/r/utsns/p' }, want: ['--uts=/r/utsns/p', 'true'] },
  { name: 'hostname ignored without uts', ns: { ipc: '/r/ipcns/p' }, hostname: 'x', want: ['--ipc=/r/ipcns/p', 'true'] },
];
for (const c of argCases) test(`unshareArgs: ${c.name}`, () => assert.deepEqual(unshareArgs(c.ns, c.hostname), c.want));
