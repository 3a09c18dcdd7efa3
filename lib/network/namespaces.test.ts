import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPodNamespaces, podNamespacePaths, type PodNamespaces } from './namespaces';

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

test('podNamespacePaths: a user namespace file under userns/', () => {
  assert.deepEqual(podNamespacePaths('/var/run', 'p1', { net: true, ipc: false, uts: false, user: true }), { net: '/var/run/netns/p1', user: '/var/run/userns/p1' });
});

for (const bad of ['-n', 'a b', 'x'.repeat(65), 'tab\there']) {
  test(`createPodNamespaces refuses hostname ${JSON.stringify(bad)} before creating anything`, async () => {
    await assert.rejects(
      createPodNamespaces({ namespacesDir: '/nonexistent-crio-ts', podSandboxId: 'p1', net: false, ipc: false, uts: true, hostname: bad }),
      /hostname .* is not usable/,
    );
  });
}
