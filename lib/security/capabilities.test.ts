import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { ALL_CAPABILITIES, type CapabilitiesInput, DEFAULT_CAPABILITIES, normalizeCapability, resolveCapabilities } from './capabilities';

const DEFAULTS_PREFIXED = DEFAULT_CAPABILITIES.map((c) => `CAP_${c}`);
const HOST_WITHOUT_SYS_RESOURCE = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');

const base: CapabilitiesInput = { defaults: DEFAULT_CAPABILITIES, add: [], drop: [], privileged: false, addInheritable: false };

const cases: { name: string; input: Partial<CapabilitiesInput>; bounding: readonly string[]; inheritable?: readonly string[]; ambient?: readonly string[]; warnings?: number }[] = [
  { name: 'defaults only', input: {}, bounding: DEFAULTS_PREFIXED },
  { name: 'add is placed before the defaults (CRI-O order)', input: { add: ['NET_ADMIN'] }, bounding: ['CAP_NET_ADMIN', ...DEFAULTS_PREFIXED] },
  { name: 'names in any case, with or without CAP_', input: { add: ['cap_sys_time', 'Net_Raw'] }, bounding: ['CAP_SYS_TIME', 'CAP_NET_RAW', ...DEFAULTS_PREFIXED] },
  { name: 'drop removes a default', input: { drop: ['chown', 'CAP_KILL'] }, bounding: DEFAULTS_PREFIXED.filter((c) => c !== 'CAP_CHOWN' && c !== 'CAP_KILL') },
  { name: 'drop wins over add of the same cap', input: { add: ['NET_ADMIN'], drop: ['NET_ADMIN'] }, bounding: DEFAULTS_PREFIXED },
  { name: 'drop ALL then add X is exactly X', input: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] }, bounding: ['CAP_NET_BIND_SERVICE'] },
  { name: 'drop all (lower case) empties', input: { drop: ['all'] }, bounding: [] },
  { name: 'add ALL then drop X is all but X', input: { add: ['ALL'], drop: ['CHOWN'] }, bounding: ALL_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN') },
  { name: 'add ALL on a host without SYS_RESOURCE omits it silently', input: { add: ['ALL'], hostCapabilities: HOST_WITHOUT_SYS_RESOURCE }, bounding: HOST_WITHOUT_SYS_RESOURCE, warnings: 0 },
  { name: 'explicit add of a cap the host lacks is dropped with a warning', input: { add: ['SYS_RESOURCE'], hostCapabilities: HOST_WITHOUT_SYS_RESOURCE }, bounding: DEFAULTS_PREFIXED, warnings: 1 },
  { name: 'inheritable only with add_inheritable_capabilities', input: { addInheritable: true }, bounding: DEFAULTS_PREFIXED, inheritable: DEFAULTS_PREFIXED },
  { name: 'privileged gets every host cap in all five sets', input: { privileged: true, drop: ['ALL'], hostCapabilities: HOST_WITHOUT_SYS_RESOURCE }, bounding: HOST_WITHOUT_SYS_RESOURCE, inheritable: HOST_WITHOUT_SYS_RESOURCE, ambient: HOST_WITHOUT_SYS_RESOURCE },
];

for (const c of cases) {
  test(`resolveCapabilities: ${c.name}`, () => {
    const { capabilities, warnings } = resolveCapabilities({ ...base, ...c.input });
    assert.deepEqual(capabilities.bounding, c.bounding);
    assert.deepEqual(capabilities.effective, c.bounding);
    assert.deepEqual(capabilities.permitted, c.bounding);
    assert.deepEqual(capabilities.inheritable, c.inheritable ?? []);
    assert.deepEqual(capabilities.ambient, c.ambient ?? []);
    assert.equal(warnings.length, c.warnings ?? 0);
  });
}

const invalid: { name: string; input: Partial<CapabilitiesInput>; message: RegExp }[] = [
  { name: 'unknown add', input: { add: ['FLY'] }, message: /unknown capability "FLY" to add/ },
  { name: 'unknown drop', input: { drop: ['CAP_FLY'] }, message: /unknown capability "CAP_FLY" to drop/ },
  { name: 'unknown add even with drop ALL', input: { drop: ['ALL'], add: ['nope'] }, message: /nope/ },
  { name: 'unknown default', input: { defaults: ['BOGUS'] }, message: /default_capabilities/ },
];

for (const c of invalid) {
  test(`resolveCapabilities rejects ${c.name}`, () => {
    assert.throws(() => resolveCapabilities({ ...base, ...c.input }), (err: unknown) => err instanceof InvalidArgumentError && c.message.test(err.message));
  });
}

const names: [string, string | undefined][] = [
  ['chown', 'CAP_CHOWN'],
  ['CAP_CHOWN', 'CAP_CHOWN'],
  [' cap_bpf ', 'CAP_BPF'],
  ['CAP_NOPE', undefined],
  ['ALL', undefined],
];
for (const [input, want] of names) {
  test(`normalizeCapability(${JSON.stringify(input)})`, () => assert.equal(normalizeCapability(input), want));
}
