import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { type ContainerSELinuxInput, type SELinuxLabels, containerSelinuxLabels, labelsFromOptions, podMcsLevel, volumeRelabelAllowed } from './selinux';
import { checkRelabelPath } from './selinux-relabel';

const BASE = { process: 'system_u:system_r:container_t:s0', file: 'system_u:object_r:container_file_t:s0' };

test('podMcsLevel is stable, two distinct ordered categories below 1024, different per pod', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const level = podMcsLevel(`pod-${i}`);
    assert.equal(level, podMcsLevel(`pod-${i}`));
    const m = /^s0:c(\d+),c(\d+)$/.exec(level);
    assert.ok(m, level);
    const [a, b] = [Number(m[1]), Number(m[2])];
    assert.ok(a < b && b < 1024, level);
    seen.add(level);
  }
  assert.ok(seen.size > 190, 'levels spread over pods');
});

const labelCases: { name: string; options: Parameters<typeof labelsFromOptions>[2]; want: SELinuxLabels }[] = [
  {
    name: 'no options: base labels with the pod level',
    options: {},
    want: { processLabel: 'system_u:system_r:container_t:s0:c1,c2', mountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' },
  },
  {
    name: 'user and level go to both labels, role and type only to the process',
    options: { user: 'user_u', role: 'user_r', type: 'spc_t', level: 's0:c7,c8' },
    want: { processLabel: 'user_u:user_r:spc_t:s0:c7,c8', mountLabel: 'user_u:object_r:container_file_t:s0:c7,c8' },
  },
  {
    name: 'type only',
    options: { type: 'container_kvm_t' },
    want: { processLabel: 'system_u:system_r:container_kvm_t:s0:c1,c2', mountLabel: 'system_u:object_r:container_file_t:s0:c1,c2' },
  },
];
for (const c of labelCases) test(`labelsFromOptions: ${c.name}`, () => assert.deepEqual(labelsFromOptions(BASE, 's0:c1,c2', c.options), c.want));

test('labelsFromOptions refuses fields that would shift the context', () => {
  for (const options of [{ type: 'a:b' }, { user: 'u r' }, { level: 's0 c1' }]) assert.throws(() => labelsFromOptions(BASE, 's0', options), InvalidArgumentError);
});

const POD = 'f00d';
const level = podMcsLevel(POD);
const ctr = (extra: Partial<ContainerSELinuxInput>): ContainerSELinuxInput => ({
  podSandboxId: POD,
  privileged: false,
  hostPid: false,
  hostIpc: false,
  hostNetwork: false,
  hostNetworkDisablesSelinux: true,
  ...extra,
});
const containerCases: { name: string; input: ContainerSELinuxInput; want: SELinuxLabels }[] = [
  {
    name: 'containers share the pod level',
    input: ctr({}),
    want: { processLabel: `system_u:system_r:container_t:${level}`, mountLabel: `system_u:object_r:container_file_t:${level}` },
  },
  {
    name: 'pod options apply, container options override',
    input: ctr({ podOptions: { type: 'pod_t', user: 'pu' }, containerOptions: { type: 'ctr_t' } }),
    want: { processLabel: `pu:system_r:ctr_t:${level}`, mountLabel: `pu:object_r:container_file_t:${level}` },
  },
  {
    name: 'pod level option replaces the MCS pair for every container',
    input: ctr({ podOptions: { level: 's0:c5,c6' } }),
    want: { processLabel: 'system_u:system_r:container_t:s0:c5,c6', mountLabel: 'system_u:object_r:container_file_t:s0:c5,c6' },
  },
  { name: 'privileged: no process label, mount label kept', input: ctr({ privileged: true }), want: { processLabel: '', mountLabel: `system_u:object_r:container_file_t:${level}` } },
  { name: 'host network (hostnetwork_disable_selinux): no process label', input: ctr({ hostNetwork: true }), want: { processLabel: '', mountLabel: `system_u:object_r:container_file_t:${level}` } },
  {
    name: 'host network with hostnetwork_disable_selinux=false keeps labels',
    input: ctr({ hostNetwork: true, hostNetworkDisablesSelinux: false }),
    want: { processLabel: `system_u:system_r:container_t:${level}`, mountLabel: `system_u:object_r:container_file_t:${level}` },
  },
  { name: 'host PID: no labels at all', input: ctr({ hostPid: true }), want: { processLabel: '', mountLabel: '' } },
  { name: 'host IPC: no labels at all', input: ctr({ hostIpc: true }), want: { processLabel: '', mountLabel: '' } },
];
for (const c of containerCases) test(`containerSelinuxLabels: ${c.name}`, () => assert.deepEqual(containerSelinuxLabels(c.input), c.want));

const relabel: { name: string; pod?: { type?: string }; ctr?: { type?: string }; want: boolean }[] = [
  { name: 'plain containers relabel', want: true },
  { name: 'spc_t container does not', ctr: { type: 'spc_t' }, want: false },
  { name: 'spc_t pod, container without type does not', pod: { type: 'spc_t' }, want: false },
  { name: 'spc_t pod, container with its own type does', pod: { type: 'spc_t' }, ctr: { type: 'container_t' }, want: true },
];
for (const c of relabel) test(`volumeRelabelAllowed: ${c.name}`, () => assert.equal(volumeRelabelAllowed(c.pod, c.ctr), c.want));

const paths: [string, boolean][] = [['/', false], ['/usr', false], ['/usr/', false], ['/etc/passwd', false], ['/var/lib', false], ['/var/lib/kubelet/pods/x/volumes/v', true], ['/srv/data', true]];
for (const [p, allowed] of paths) {
  test(`checkRelabelPath(${p}) ${allowed ? 'allows' : 'refuses'}`, () => {
    if (allowed) checkRelabelPath(p);
    else assert.throws(() => checkRelabelPath(p), (e: unknown) => e instanceof InvalidArgumentError && /not allowed/.test(e.message));
  });
}
