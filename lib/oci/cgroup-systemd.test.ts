import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import {
  type CgroupManagerName,
  cgroupFsPath,
  cgroupManagerName,
  cgroupParentPath,
  checkCgroupsPath,
  conmonScopeName,
  conmonScopeSlice,
  containerCgroupDir,
  containerCgroupsPath,
  effectiveMonitorCgroup,
  expandSlice,
  isSystemdCgroupsPath,
  isValidSliceName,
  monitorCgroupExpectation,
  parseSystemdCgroupsPath,
  podCgroupParent,
  procCgroupInUnit,
  startTransientScopeArgs,
  systemdScopeAnnotations,
  systemdUnitName,
} from './cgroup-systemd';

const POD = 'kubepods-besteffort-pod1234_abcd.slice';
const POD_DIR = '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_abcd.slice';

/** Asserts `fn` throws InvalidArgumentError whose message matches `message`. */
function throwsInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.match(err.message, message);
    return true;
  });
}

const slices: { slice: string; want?: string; error?: RegExp }[] = [
  { slice: 'system.slice', want: '/system.slice' },
  { slice: POD, want: POD_DIR },
  { slice: 'a-b-c.slice', want: '/a.slice/a-b.slice/a-b-c.slice' },
  { slice: '-.slice', want: '/' },
  { slice: 'user@1000.slice', want: '/user@1000.slice' },
  { slice: '.slice', error: /"\.slice" is not a valid systemd slice: it must end with "\.slice" after a name/ },
  { slice: '', error: /must end with "\.slice"/ },
  { slice: 'kubepods', error: /"kubepods" is not a valid systemd slice: it must end with "\.slice"/ },
  { slice: 'crio-c1.scope', error: /must end with "\.slice"/ },
  { slice: 'a--b.slice', error: /"a--b\.slice" is not a valid systemd slice: "-" separates levels/ },
  { slice: '-a.slice', error: /"-" separates levels/ },
  { slice: 'a-.slice', error: /"-" separates levels/ },
  { slice: '--.slice', error: /"-" separates levels/ },
  { slice: 'a/b.slice', error: /no "\/" or ":"/ },
  { slice: '/kubepods.slice', error: /no "\/" or ":"/ },
  { slice: 'a:b.slice', error: /no "\/" or ":"/ },
  { slice: 'a b.slice', error: /may only hold/ },
  { slice: `${'a'.repeat(250)}.slice`, error: /longer than 255 characters/ },
];
for (const c of slices) {
  test(`expandSlice(${JSON.stringify(c.slice.slice(0, 40))})`, () => {
    assert.equal(isValidSliceName(c.slice), c.error === undefined);
    if (c.error) throwsInvalid(() => expandSlice(c.slice), c.error);
    else assert.equal(expandSlice(c.slice), c.want);
  });
}

const parsed: { path: string; want?: { slice: string; prefix: string; name: string }; unit?: string; error?: RegExp }[] = [
  { path: `${POD}:crio:c1`, want: { slice: POD, prefix: 'crio', name: 'c1' }, unit: 'crio-c1.scope' },
  { path: ':crio:c1', want: { slice: 'system.slice', prefix: 'crio', name: 'c1' }, unit: 'crio-c1.scope' },
  { path: 'system.slice:runc:x', want: { slice: 'system.slice', prefix: 'runc', name: 'x' }, unit: 'runc-x.scope' },
  { path: 'a.slice:p:a-b.slice', want: { slice: 'a.slice', prefix: 'p', name: 'a-b.slice' }, unit: 'a-b.slice' },
  { path: 'a.slice:crio', error: /"a\.slice:crio" is not of the systemd form "slice:prefix:name"/ },
  { path: 'a.slice:crio:c1:x', error: /not of the systemd form/ },
  { path: 'a.slice:crio:', error: /not of the systemd form/ },
  { path: 'kubepods:crio:c1', error: /parent of cgroups path "kubepods:crio:c1" "kubepods" is not a valid systemd slice/ },
];
for (const c of parsed) {
  test(`parseSystemdCgroupsPath(${c.path})`, () => {
    if (c.error) return throwsInvalid(() => parseSystemdCgroupsPath(c.path), c.error);
    const p = parseSystemdCgroupsPath(c.path);
    assert.deepEqual(p, c.want);
    assert.equal(systemdUnitName(p), c.unit);
  });
}

const paths: { path: string; systemd: boolean; fs?: string; error?: RegExp }[] = [
  { path: '/kubepods/besteffort/pod1/crio-c1', systemd: false, fs: '/kubepods/besteffort/pod1/crio-c1' },
  { path: '/a:b', systemd: false, fs: '/a:b' },
  { path: `${POD}:crio:c1`, systemd: true, fs: `${POD_DIR}/crio-c1.scope` },
  { path: ':crio:c1', systemd: true, fs: '/system.slice/crio-c1.scope' },
  { path: '-.slice:crio:c1', systemd: true, fs: '/crio-c1.scope' },
  { path: 'x.slice:p:x-y.slice', systemd: true, fs: '/x.slice/x-y.slice' },
  { path: 'kubepods/x', systemd: false, error: /"kubepods\/x" is neither absolute \(cgroupfs\) nor "slice:prefix:name" \(systemd\)/ },
  { path: '', systemd: false, error: /neither absolute/ },
  { path: 'a--b.slice:crio:c1', systemd: true, error: /"a--b\.slice" is not a valid systemd slice/ },
];
for (const c of paths) {
  test(`cgroups path ${JSON.stringify(c.path)}`, () => {
    assert.equal(isSystemdCgroupsPath(c.path), c.systemd);
    if (c.error) return throwsInvalid(() => checkCgroupsPath(c.path), c.error);
    checkCgroupsPath(c.path);
    assert.equal(cgroupFsPath(c.path), c.fs);
  });
}

const parents: { manager: CgroupManagerName; requested: string; want?: string; error?: RegExp }[] = [
  { manager: 'cgroupfs', requested: '', want: '/crio' },
  { manager: 'cgroupfs', requested: '/kubepods/besteffort/pod1', want: '/kubepods/besteffort/pod1' },
  { manager: 'cgroupfs', requested: 'kubepods/pod1', want: '/kubepods/pod1' },
  {
    manager: 'cgroupfs',
    requested: POD,
    error: new RegExp(`^cgroup parent "${POD}" is a systemd slice but cgroup_manager is "cgroupfs"; set the kubelet's cgroupDriver to cgroupfs$`),
  },
  { manager: 'cgroupfs', requested: `${POD_DIR}`, error: /is a systemd slice but cgroup_manager is "cgroupfs"/ },
  { manager: 'systemd', requested: '', want: 'system.slice' },
  { manager: 'systemd', requested: POD, want: POD },
  { manager: 'systemd', requested: POD_DIR, want: POD },
  {
    manager: 'systemd',
    requested: '/kubepods/besteffort/pod1',
    error: /^cgroup parent "\/kubepods\/besteffort\/pod1" is not a systemd slice but cgroup_manager is "systemd"; set the kubelet's cgroupDriver to systemd$/,
  },
  { manager: 'systemd', requested: 'kubepods', error: /cgroup parent "kubepods" is not a systemd slice/ },
  { manager: 'systemd', requested: 'kubepods--x.slice', error: /^cgroup parent "kubepods--x\.slice" is not a valid systemd slice: "-" separates levels/ },
];
for (const c of parents) {
  test(`podCgroupParent(${c.manager}, ${JSON.stringify(c.requested)})`, () => {
    if (c.error) return throwsInvalid(() => podCgroupParent(c.manager, c.requested), c.error);
    assert.equal(podCgroupParent(c.manager, c.requested), c.want);
  });
}

const containers: { manager: CgroupManagerName; parent: string; cgroupsPath?: string; dir?: string; error?: RegExp }[] = [
  { manager: 'cgroupfs', parent: '/kubepods/besteffort/pod1', cgroupsPath: '/kubepods/besteffort/pod1/crio-c1', dir: '/kubepods/besteffort/pod1/crio-c1' },
  { manager: 'cgroupfs', parent: '/crio', cgroupsPath: '/crio/crio-c1', dir: '/crio/crio-c1' },
  { manager: 'systemd', parent: POD, cgroupsPath: `${POD}:crio:c1`, dir: `${POD_DIR}/crio-c1.scope` },
  { manager: 'systemd', parent: 'system.slice', cgroupsPath: 'system.slice:crio:c1', dir: '/system.slice/crio-c1.scope' },
  { manager: 'systemd', parent: '', cgroupsPath: 'system.slice:crio:c1' },
  { manager: 'systemd', parent: '/kubepods/pod1', error: /^pod cgroup parent "\/kubepods\/pod1" is not a valid systemd slice/ },
];
for (const c of containers) {
  test(`containerCgroupsPath(${c.manager}, ${JSON.stringify(c.parent)})`, () => {
    if (c.error) return throwsInvalid(() => containerCgroupsPath(c.manager, c.parent, 'c1'), c.error);
    const cgroupsPath = containerCgroupsPath(c.manager, c.parent, 'c1');
    assert.equal(cgroupsPath, c.cgroupsPath);
    if (c.dir === undefined) return;
    // The stats reader finds the same directory from the spec's path as from the pod's parent.
    assert.equal(cgroupFsPath(cgroupsPath), c.dir);
    assert.equal(containerCgroupDir(c.parent, 'c1'), c.dir);
  });
}

const parentDirs: [string, string][] = [
  ['/crio', '/crio'],
  ['/kubepods/burstable/pod1', '/kubepods/burstable/pod1'],
  ['system.slice', '/system.slice'],
  [POD, POD_DIR],
];
for (const [parent, want] of parentDirs) test(`cgroupParentPath(${parent})`, () => assert.equal(cgroupParentPath(parent), want));

const managers: [string, CgroupManagerName][] = [
  ['systemd', 'systemd'],
  ['cgroupfs', 'cgroupfs'],
  ['', 'cgroupfs'],
];
for (const [value, want] of managers) test(`cgroupManagerName(${JSON.stringify(value)})`, () => assert.equal(cgroupManagerName(value), want));

test('conmonScopeName', () => assert.equal(conmonScopeName('c1'), 'crio-conmon-c1.scope'));

const monitors: { manager: CgroupManagerName; conmon: string; monitor: string; want: string; expectation?: RegExp }[] = [
  { manager: 'systemd', conmon: '', monitor: '', want: 'system.slice' },
  { manager: 'systemd', conmon: '', monitor: 'pod', want: 'pod' },
  { manager: 'systemd', conmon: '', monitor: 'machine.slice', want: 'machine.slice' },
  { manager: 'systemd', conmon: 'conmon.slice', monitor: 'pod', want: 'conmon.slice' },
  { manager: 'systemd', conmon: '', monitor: '/crio', want: '/crio', expectation: /^"pod" or a systemd slice/ },
  { manager: 'systemd', conmon: '', monitor: 'a--b.slice', want: 'a--b.slice', expectation: /^"pod" or a systemd slice/ },
  { manager: 'cgroupfs', conmon: '', monitor: '', want: '' },
  { manager: 'cgroupfs', conmon: '', monitor: 'system.slice', want: '' },
  { manager: 'cgroupfs', conmon: 'system.slice', monitor: 'pod', want: '' },
  { manager: 'cgroupfs', conmon: 'pod', monitor: '', want: 'pod' },
  { manager: 'cgroupfs', conmon: '', monitor: 'pod', want: 'pod' },
  { manager: 'cgroupfs', conmon: '', monitor: 'kubepods.slice', want: 'kubepods.slice', expectation: /^"pod" or "" with cgroup_manager "cgroupfs"$/ },
  { manager: 'cgroupfs', conmon: '/crio', monitor: '', want: '/crio', expectation: /^"pod" or ""/ },
];
for (const c of monitors) {
  test(`monitor cgroup: ${c.manager}, conmon_cgroup=${JSON.stringify(c.conmon)}, monitor_cgroup=${JSON.stringify(c.monitor)}`, () => {
    const got = effectiveMonitorCgroup(c.manager, c.conmon, c.monitor);
    assert.equal(got, c.want);
    const expectation = monitorCgroupExpectation(c.manager, got);
    if (c.expectation) assert.match(expectation ?? '', c.expectation);
    else assert.equal(expectation, undefined);
  });
}

const scopeSlices: { monitor: string; cgroupsPath: string; want?: string; error?: RegExp }[] = [
  { monitor: '', cgroupsPath: '', want: 'system.slice' },
  { monitor: 'system.slice', cgroupsPath: `${POD}:crio:c1`, want: 'system.slice' },
  { monitor: 'conmon-x.slice', cgroupsPath: '', want: 'conmon-x.slice' },
  { monitor: 'pod', cgroupsPath: `${POD}:crio:c1`, want: POD },
  { monitor: 'pod', cgroupsPath: ':crio:c1', want: 'system.slice' },
  { monitor: 'pod', cgroupsPath: '/kubepods/pod1/crio-c1', error: /"\/kubepods\/pod1\/crio-c1" is not of the systemd form/ },
  { monitor: 'pod', cgroupsPath: '', error: /not of the systemd form/ },
  { monitor: '/crio', cgroupsPath: '', error: /^conmon cgroup "\/crio" is not a valid systemd slice/ },
];
for (const c of scopeSlices) {
  test(`conmonScopeSlice(${JSON.stringify(c.monitor)}, ${JSON.stringify(c.cgroupsPath)})`, () => {
    if (c.error) return throwsInvalid(() => conmonScopeSlice(c.monitor, c.cgroupsPath), c.error);
    assert.equal(conmonScopeSlice(c.monitor, c.cgroupsPath), c.want);
  });
}

const HEAD = ['call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'StartTransientUnit', 'ssa(sv)a(sa(sv))'];
const PROPS = [
  ...['PIDs', 'au', '1', '4242'],
  ...['Delegate', 'b', 'true'],
  ...['DefaultDependencies', 'b', 'false'],
  ...['Slice', 's', POD],
  ...['KillSignal', 'i', '13'],
  ...['CollectMode', 's', 'inactive-or-failed'],
];
const scopes: { name: string; input: Parameters<typeof startTransientScopeArgs>[0]; want?: string[]; error?: RegExp }[] = [
  {
    name: 'system bus, ordered after the daemon',
    input: { unit: 'crio-conmon-c1.scope', slice: POD, pid: 4242, after: 'crio.service' },
    want: ['--system', ...HEAD, 'crio-conmon-c1.scope', 'replace', '7', ...PROPS, ...['After', 'as', '1', 'crio.service'], '0'],
  },
  {
    name: 'given bus, no ordering',
    input: { unit: 'crio-conmon-c1.scope', slice: POD, pid: 4242, busAddress: 'unix:path=/tmp/b.sock' },
    want: ['--address=unix:path=/tmp/b.sock', ...HEAD, 'crio-conmon-c1.scope', 'replace', '6', ...PROPS, '0'],
  },
  { name: 'bad slice', input: { unit: 'crio-conmon-c1.scope', slice: '/x', pid: 4242 }, error: /^scope slice "\/x" is not a valid systemd slice/ },
  { name: 'not a scope', input: { unit: 'crio-conmon-c1.service', slice: POD, pid: 4242 }, error: /"crio-conmon-c1\.service" is not a valid systemd scope name/ },
  { name: 'scope name with a slash', input: { unit: 'a/b.scope', slice: POD, pid: 4242 }, error: /not a valid systemd scope name/ },
  { name: 'pid 1', input: { unit: 'x.scope', slice: POD, pid: 1 }, error: /refusing to put pid 1 into a systemd scope/ },
  { name: 'pid 0', input: { unit: 'x.scope', slice: POD, pid: 0 }, error: /refusing to put pid 0/ },
  { name: 'fractional pid', input: { unit: 'x.scope', slice: POD, pid: 2.5 }, error: /refusing to put pid 2\.5/ },
];
for (const c of scopes) {
  test(`startTransientScopeArgs: ${c.name}`, () => {
    if (c.error) return throwsInvalid(() => startTransientScopeArgs(c.input), c.error);
    assert.deepEqual(startTransientScopeArgs(c.input), c.want);
  });
}

const UNIT = 'crio-conmon-c1.scope';
const procs: { name: string; text: string; want: boolean }[] = [
  { name: 'cgroup v2', text: `0::/system.slice/${UNIT}\n`, want: true },
  { name: 'cgroup v1, name=systemd', text: `12:memory:/system.slice/${UNIT}\n1:name=systemd:/system.slice/${UNIT}\n`, want: true },
  { name: 'hybrid, still in the daemon unit', text: '1:name=systemd:/system.slice/crio.service\n0::/system.slice/crio.service\n', want: false },
  { name: 'v1 controller only', text: `4:memory:/system.slice/${UNIT}\n1:name=systemd:/system.slice/crio.service\n`, want: false },
  { name: 'a child cgroup of the unit', text: `0::/system.slice/${UNIT}/sub\n`, want: false },
  { name: 'a similar unit', text: '0::/system.slice/crio-conmon-c10.scope\n', want: false },
  { name: 'root', text: '0::/\n', want: false },
  { name: 'empty', text: '', want: false },
];
for (const c of procs) test(`procCgroupInUnit: ${c.name}`, () => assert.equal(procCgroupInUnit(c.text, UNIT), c.want));

const scopeAnnotations: { name: string; manager: CgroupManagerName; kube: Record<string, string>; want: Record<string, string> }[] = [
  { name: 'cgroupfs adds none', manager: 'cgroupfs', kube: { 'io.kubernetes.pod.terminationGracePeriod': '30' }, want: {} },
  { name: 'systemd, no grace period (sandbox)', manager: 'systemd', kube: {}, want: { 'org.systemd.property.CollectMode': "'inactive-or-failed'" } },
  {
    name: 'systemd, grace period in µs',
    manager: 'systemd',
    kube: { 'io.kubernetes.pod.terminationGracePeriod': '30' },
    want: { 'org.systemd.property.CollectMode': "'inactive-or-failed'", 'org.systemd.property.TimeoutStopUSec': 'uint64 30000000' },
  },
  { name: 'systemd, malformed grace period left out', manager: 'systemd', kube: { 'io.kubernetes.pod.terminationGracePeriod': '30s' }, want: { 'org.systemd.property.CollectMode': "'inactive-or-failed'" } },
];
for (const c of scopeAnnotations) test(`systemdScopeAnnotations: ${c.name}`, () => assert.deepEqual(systemdScopeAnnotations(c.manager, c.kube), c.want));
