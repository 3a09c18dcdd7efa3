import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCdiSpec, minimumCdiVersion, type CdiSpecDoc } from './cdi-spec';

const node = { path: '/dev/vendor0', hostPath: '/dev/null' };
const base = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  cdiVersion: '0.5.0',
  kind: 'vendor.com/device',
  devices: [{ name: 'dev0', containerEdits: { deviceNodes: [node] } }],
  ...over,
});

const ok: { name: string; raw: Record<string, unknown>; check?: (doc: CdiSpecDoc) => void }[] = [
  { name: 'minimal with hostPath at 0.5.0', raw: base() },
  { name: 'leading v in the version', raw: base({ cdiVersion: 'v0.6.0' }) },
  { name: 'every 1.x version', raw: base({ cdiVersion: '1.1.0' }) },
  {
    name: 'field names match case-insensitively (additionalGIDs of SPEC.md)',
    raw: base({ cdiVersion: '0.7.0', devices: [{ name: 'd', containerEdits: { additionalGIDs: [44] } }] }),
    check: (d) => assert.deepEqual(d.devices[0]?.containerEdits.additionalGids, [44]),
  },
  {
    name: 'spec-level edits, env, hooks, mounts, permissions none',
    raw: base({
      containerEdits: { env: ['A=1'], hooks: [{ hookName: 'createContainer', path: '/bin/true', timeout: 5 }], mounts: [{ hostPath: '/a', containerPath: '/b', options: ['ro', 'bind'] }] },
      devices: [{ name: '0dev', containerEdits: { deviceNodes: [{ ...node, permissions: 'none' }] } }],
    }),
    check: (d) => assert.equal(d.containerEdits?.hooks?.[0]?.timeout, 5),
  },
  { name: 'null fields count as absent', raw: base({ annotations: null, containerEdits: null }) },
  { name: 'dots in the class need 0.6.0', raw: base({ cdiVersion: '0.6.0', kind: 'vendor.com/dev.ice' }) },
];
for (const c of ok) {
  test(`CDI spec accepted: ${c.name}`, () => {
    const spec = decodeCdiSpec(c.raw, '/etc/cdi/v.json', 1);
    assert.equal(spec.vendor, 'vendor.com');
    assert.equal(spec.priority, 1);
    c.check?.(spec.doc);
  });
}

const bad: { name: string; raw: unknown; error: RegExp }[] = [
  { name: 'no data', raw: null, error: /no spec data/ },
  { name: 'unknown version', raw: base({ cdiVersion: '0.9.0' }), error: /invalid cdiVersion "0.9.0"/ },
  { name: 'hostPath needs 0.5.0', raw: base({ cdiVersion: '0.4.0' }), error: /at least v0.5.0/ },
  { name: 'mount type needs 0.4.0', raw: base({ cdiVersion: '0.3.0', devices: [{ name: 'd', containerEdits: { mounts: [{ hostPath: '/a', containerPath: '/b', type: 'bind' }] } }] }), error: /at least v0.4.0/ },
  { name: 'annotations need 0.6.0', raw: base({ annotations: { a: 'b' } }), error: /at least v0.6.0/ },
  { name: 'additional GIDs need 0.7.0', raw: base({ devices: [{ name: 'd', containerEdits: { additionalGids: [5] } }] }), error: /at least v0.7.0/ },
  { name: 'netDevices need 1.1.0', raw: base({ cdiVersion: '1.0.0', containerEdits: { netDevices: [{ hostInterfaceName: 'eth1', name: 'net1' }] } }), error: /at least v1.1.0/ },
  { name: 'unknown field (strict)', raw: base({ devicez: [] }), error: /unknown field "devicez"/ },
  { name: 'unknown nested field', raw: base({ devices: [{ name: 'd', containerEdits: { deviceNodes: [{ ...node, colour: 'red' }] } }] }), error: /unknown field "colour"/ },
  { name: 'kind without class', raw: base({ kind: 'vendor.com' }), error: /invalid kind/ },
  { name: 'vendor starting with a digit', raw: base({ kind: '1vendor.com/device' }), error: /invalid vendor/ },
  { name: 'class with a slash', raw: base({ kind: 'vendor.com/a/b' }), error: /invalid class/ },
  { name: 'device name with a space', raw: base({ devices: [{ name: 'a b', containerEdits: { env: ['A=1'] } }] }), error: /invalid character ' '/ },
  { name: 'no devices', raw: base({ devices: [] }), error: /no devices/ },
  { name: 'empty device edits', raw: base({ devices: [{ name: 'd' }] }), error: /empty device edits/ },
  { name: 'duplicate device', raw: base({ devices: [{ name: 'd', containerEdits: { env: ['A=1'] } }, { name: 'd', containerEdits: { env: ['A=1'] } }] }), error: /multiple device "d"/ },
  { name: 'bad env', raw: base({ containerEdits: { env: ['=1'] } }), error: /invalid environment variable/ },
  { name: 'bad device type', raw: base({ devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', type: 'x' }] } }] }), error: /invalid type "x"/ },
  { name: 'bad permissions', raw: base({ devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', permissions: 'rx' }] } }] }), error: /invalid permissions "rx"/ },
  { name: 'empty device path', raw: base({ devices: [{ name: 'd', containerEdits: { deviceNodes: [{ type: 'c' }] } }] }), error: /empty\) device path/ },
  { name: 'unknown hook name', raw: base({ containerEdits: { hooks: [{ hookName: 'preStart', path: '/x' }] } }), error: /invalid hook name "preStart"/ },
  { name: 'mount without host path', raw: base({ containerEdits: { mounts: [{ containerPath: '/b' }] } }), error: /empty host path/ },
  { name: 'major as a string', raw: base({ devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', major: '7' }] } }] }), error: /major: expected an integer/ },
  { name: 'negative uid', raw: base({ devices: [{ name: 'd', containerEdits: { deviceNodes: [{ path: '/dev/x', uid: -1 }] } }] }), error: /uid: expected an integer/ },
  { name: 'bad annotation key', raw: base({ cdiVersion: '0.6.0', annotations: { 'a b': 'c' } }), error: /invalid key "a b"/ },
];
for (const c of bad) {
  test(`CDI spec refused: ${c.name}`, () => {
    assert.throws(() => decodeCdiSpec(c.raw, '/etc/cdi/v.json', 0), c.error);
  });
}

test('minimumCdiVersion of a spec that uses nothing newer is 0.3.0', () => {
  const doc: CdiSpecDoc = { cdiVersion: '1.1.0', kind: 'v.com/c', devices: [{ name: 'd', containerEdits: { env: ['A=1'] } }] };
  assert.equal(minimumCdiVersion(doc), '0.3.0');
});
