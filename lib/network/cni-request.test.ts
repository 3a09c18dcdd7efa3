import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CniPluginConfig } from './cni-config';
import {
  buildCniArgs,
  buildPluginConfig,
  delTakesPrevResult,
  filterRuntimeConfig,
  podIpsFromResult,
  versionAtLeast,
  type CniResult,
  type CniRuntimeConfig,
} from './cni-request';

test('buildCniArgs: ocicni order', () => {
  assert.equal(
    buildCniArgs({ podSandboxId: 'abc', name: 'web', namespace: 'default', uid: 'u-1' }),
    'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1',
  );
});

const versionCases: { a: string; b: string; want: boolean }[] = [
  { a: '0.4.0', b: '0.4.0', want: true },
  { a: '1.0.0', b: '0.4.0', want: true },
  { a: '0.3.1', b: '0.4.0', want: false },
  { a: '0.10.0', b: '0.4.0', want: true },
];
for (const c of versionCases) test(`versionAtLeast ${c.a} >= ${c.b}`, () => assert.equal(versionAtLeast(c.a, c.b), c.want));

const delCases: { v: string; want: boolean }[] = [
  { v: '0.3.1', want: false },
  { v: '0.4.0', want: true },
  { v: '1.1.0', want: true },
];
for (const c of delCases) test(`delTakesPrevResult ${c.v}`, () => assert.equal(delTakesPrevResult(c.v), c.want));

const rc: CniRuntimeConfig = {
  portMappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 0, containerPort: 81, protocol: 'tcp' },
  ],
  bandwidth: { ingressRate: 1000 },
  ips: ['10.0.0.9'],
};
const filterCases: { name: string; plugin: CniPluginConfig; rc: CniRuntimeConfig; want: Record<string, unknown> | undefined }[] = [
  { name: 'no capabilities', plugin: { type: 'bridge' }, rc, want: undefined },
  {
    name: 'portMappings only, hostPort 0 dropped',
    plugin: { type: 'portmap', capabilities: { portMappings: true } },
    rc,
    want: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
  },
  {
    name: 'capability false',
    plugin: { type: 'portmap', capabilities: { portMappings: false, bandwidth: true } },
    rc,
    want: { bandwidth: { ingressRate: 1000 } },
  },
  { name: 'ips', plugin: { type: 'host-local', capabilities: { ips: true } }, rc, want: { ips: ['10.0.0.9'] } },
  { name: 'capability but empty value', plugin: { type: 'portmap', capabilities: { portMappings: true } }, rc: {}, want: undefined },
];
for (const c of filterCases) test(`filterRuntimeConfig: ${c.name}`, () => assert.deepEqual(filterRuntimeConfig(c.plugin, c.rc), c.want));

test('buildPluginConfig: injects name, version, runtimeConfig, prevResult; drops stale keys', () => {
  const prev: CniResult = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }] };
  const out: unknown = JSON.parse(
    buildPluginConfig(
      { name: 'net', cniVersion: '1.0.0' },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true, runtimeConfig: { stale: 1 }, name: 'other' },
      rc,
      prev,
    ),
  );
  assert.deepEqual(out, {
    type: 'portmap',
    capabilities: { portMappings: true },
    snat: true,
    name: 'net',
    cniVersion: '1.0.0',
    runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    prevResult: prev,
  });
});

const ipCases: { name: string; result: CniResult | undefined; want: string[] }[] = [
  { name: 'undefined', result: undefined, want: [] },
  { name: 'no interface info', result: { ips: [{ address: '10.88.0.2/16' }, { address: 'fd00::2/64' }] }, want: ['10.88.0.2', 'fd00::2'] },
  {
    name: 'host-side interface ips skipped',
    result: {
      interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
      ips: [
        { address: '10.88.0.1/16', interface: 0 },
        { address: '10.88.0.7/16', interface: 2 },
        { address: 'fd00::7/64', interface: 2 },
      ],
    },
    want: ['10.88.0.7', 'fd00::7'],
  },
  { name: 'duplicates collapsed', result: { ips: [{ address: '10.0.0.1/8' }, { address: '10.0.0.1/8' }] }, want: ['10.0.0.1'] },
];
for (const c of ipCases) test(`podIpsFromResult: ${c.name}`, () => assert.deepEqual(podIpsFromResult(c.result), c.want));
