import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNativeAddon } from '../native-addon';
import { errnoText, podNsSpec, type PodNsSpec } from './pod-ns-native';
import { podPinnsArgs, type PinnedFiles, type PinnsSetup } from './pod-pinns';

// The addon itself runs in test/integration/pod-namespaces.test.ts, next to the perl script.
const cases: { name: string; ns: PinnedFiles; setup: PinnsSetup; want: PodNsSpec }[] = [
  {
    name: 'all three namespaces, hostname, lo, shm and sysctls',
    ns: { net: '/r/netns/p', ipc: '/r/ipcns/p', uts: '/r/utsns/p' },
    setup: {
      hostname: 'web-0',
      loopbackUp: true,
      shm: { path: '/run/pods/p/shm', sizeBytes: 65536.7 },
      sysctls: [
        { path: 'net/ipv4/ip_unprivileged_port_start', value: '0' },
        { path: 'kernel/shm_rmid_forced', value: '1' },
      ],
    },
    want: {
      files: [
        ['net', '/r/netns/p'],
        ['ipc', '/r/ipcns/p'],
        ['uts', '/r/utsns/p'],
      ],
      hostname: 'web-0',
      loopbackUp: true,
      shm: ['/run/pods/p/shm', 'mode=1777,size=65536'],
      sysctls: [
        ['net/ipv4/ip_unprivileged_port_start', '0'],
        ['kernel/shm_rmid_forced', '1'],
      ],
    },
  },
  {
    name: 'hostname and lo ignored without their namespaces',
    ns: { ipc: '/r/ipcns/p' },
    setup: { hostname: 'x', loopbackUp: true },
    want: { files: [['ipc', '/r/ipcns/p']], hostname: '', loopbackUp: false, shm: null, sysctls: [] },
  },
  {
    name: 'lo not asked for',
    ns: { net: '/r/netns/p', uts: '/r/utsns/p' },
    setup: { hostname: 'h' },
    want: { files: [['net', '/r/netns/p'], ['uts', '/r/utsns/p']], hostname: 'h', loopbackUp: false, shm: null, sysctls: [] },
  },
  {
    name: 'nothing to do inside',
    ns: { net: '/r/netns/p' },
    setup: {},
    want: { files: [['net', '/r/netns/p']], hostname: '', loopbackUp: false, shm: null, sysctls: [] },
  },
];

for (const c of cases) {
  test(`podNsSpec: ${c.name}`, () => assert.deepEqual(podNsSpec(c.ns, c.setup), c.want));
  // Both backends must do the same work: the perl script's arguments say the same things.
  test(`podNsSpec agrees with podPinnsArgs: ${c.name}`, () => {
    const spec = podNsSpec(c.ns, c.setup);
    assert.ok(spec);
    const perl = podPinnsArgs(c.ns, c.setup, 'x64');
    assert.ok(perl);
    assert.deepEqual(perl.slice(4), [
      spec.files.map(([k, f]) => `${k}=${f}`).join(','),
      spec.hostname,
      spec.loopbackUp ? '1' : '',
      spec.shm ? spec.shm.join('|') : '',
      ...spec.sysctls.map(([k, v]) => `${k}=${v}`),
    ]);
  });
}

test('podNsSpec: undefined with a user namespace (the userns helper makes those)', () => {
  assert.equal(podNsSpec({ net: '/n', user: '/u' }, {}), undefined);
});

const errnoCases: { errno: number; want: string }[] = [
  { errno: 1, want: 'EPERM (operation not permitted)' },
  { errno: 2, want: 'ENOENT (no such file or directory)' },
  { errno: 22, want: 'EINVAL (invalid argument)' },
  { errno: 99999, want: 'errno 99999' },
];
for (const c of errnoCases) test(`errnoText(${c.errno})`, () => assert.equal(errnoText(c.errno), c.want));

// The addon checks what it is given before it starts a thread (the types say the same to callers).
const badSpecs: { name: string; spec: unknown }[] = [
  { name: 'a user namespace (never unshared by a thread)', spec: { files: [['user', '/r/userns/p']], hostname: '', loopbackUp: false, shm: null, sysctls: [] } },
  { name: 'a path with a NUL byte', spec: { files: [['net', '/r/netns/p\0x']], hostname: '', loopbackUp: false, shm: null, sysctls: [] } },
  { name: 'four files', spec: { files: [['net', '/a'], ['ipc', '/b'], ['uts', '/c'], ['net', '/d']], hostname: '', loopbackUp: false, shm: null, sysctls: [] } },
  { name: 'no hostname', spec: { files: [], loopbackUp: false, shm: null, sysctls: [] } },
  { name: 'a sysctl that is not a pair of strings', spec: { files: [], hostname: '', loopbackUp: false, shm: null, sysctls: [['kernel/x', 1]] } },
];
for (const c of badSpecs) {
  test(`native create refuses ${c.name}`, async () => {
    // The addon itself, whatever CRIO_TS_PODNS says (npm run build makes it).
    const addon = loadNativeAddon<{ create(spec: unknown): Promise<void> }>('pod-ns');
    assert.ok(addon, 'build/native/pod-ns.node is built');
    assert.throws(() => addon.create(c.spec), { name: 'TypeError', message: 'pod-ns create: bad spec' });
  });
}
