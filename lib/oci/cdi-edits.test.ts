import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError } from '../errors';
import { applyCdiEdits } from './cdi-edits';
import type { CdiContainerEdits } from './cdi-spec';
import type { Spec } from './spec-input';

const base = (): Spec => ({
  ociVersion: '1.0.2-dev',
  process: { cwd: '/', args: ['sh'], env: ['PATH=/bin', 'A=old'], user: { uid: 1000, gid: 2000, additionalGids: [2000] } },
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
    { destination: '/data', type: 'bind', source: '/host/data', options: ['rbind'] },
    { destination: '/dev/shm', type: 'bind', source: '/run/shm', options: ['bind'] },
  ],
  linux: { devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }], resources: { devices: [{ allow: false, access: 'rwm' }] } },
});

const apply = (edits: CdiContainerEdits[], userns = false): Spec =>
  applyCdiEdits(
    base(),
    edits.map((e, i) => ({ edits: e, source: `src${i}` })),
    { userns },
  ).spec;

const cases: { name: string; edits: CdiContainerEdits[]; userns?: boolean; check: (s: Spec) => void }[] = [
  {
    name: 'env replaces a variable already set and appends new ones',
    edits: [{ env: ['A=new', 'B=1'] }, { env: ['B=2'] }],
    check: (s) => assert.deepEqual(s.process?.env, ['PATH=/bin', 'A=new', 'B=2']),
  },
  {
    name: 'device nodes are owned by the process user and get an rwm allow rule',
    edits: [{ deviceNodes: [{ path: '/dev/vendor0', hostPath: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666 }] }],
    check: (s) => {
      assert.deepEqual(s.linux?.devices?.[1], { path: '/dev/vendor0', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 1000, gid: 2000 });
      assert.deepEqual(s.linux?.resources?.devices?.[1], { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
    },
  },
  {
    name: 'a node at an existing path replaces that device; explicit ids and permissions win',
    edits: [{ deviceNodes: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, uid: 0, gid: 5, permissions: 'rw' }] }],
    check: (s) => {
      assert.deepEqual(s.linux?.devices, [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, uid: 0, gid: 5 }]);
      assert.equal(s.linux?.resources?.devices?.[1]?.access, 'rw');
    },
  },
  {
    name: 'permissions "none" gives an empty access rule; FIFOs get none',
    edits: [{ deviceNodes: [{ path: '/dev/b', type: 'b', major: 7, minor: 8, permissions: 'none' }, { path: '/dev/p', type: 'p' }] }],
    check: (s) => assert.deepEqual(s.linux?.resources?.devices?.slice(1), [{ allow: true, type: 'b', major: 7, minor: 8, access: '' }]),
  },
  {
    name: 'mounts replace one at the same destination and are ordered by depth',
    edits: [{ mounts: [{ hostPath: '/opt/lib', containerPath: '/data', options: ['ro', 'bind'] }, { hostPath: '/opt/x', containerPath: '/usr/lib/x', type: 'bind' }, { hostPath: '/opt/y', containerPath: '/y' }] }],
    check: (s) => {
      assert.deepEqual(
        s.mounts?.map((m) => m.destination),
        ['/proc', '/dev', '/data', '/y', '/dev/shm', '/usr/lib/x'],
      );
      assert.deepEqual(s.mounts?.[2], { destination: '/data', source: '/opt/lib', options: ['ro', 'bind'] });
    },
  },
  {
    name: 'in a user namespace bind mounts get idmap or ridmap',
    userns: true,
    edits: [{ mounts: [{ hostPath: '/a', containerPath: '/a', options: ['bind'] }, { hostPath: '/b', containerPath: '/b', options: ['rbind', 'ro'] }, { hostPath: '/c', containerPath: '/c', type: 'bind' }, { hostPath: 't', containerPath: '/t', type: 'tmpfs' }] }],
    check: (s) => {
      const opts = (d: string): string[] | undefined => s.mounts?.find((m) => m.destination === d)?.options;
      assert.deepEqual(opts('/a'), ['bind', 'idmap']);
      assert.deepEqual(opts('/b'), ['rbind', 'ro', 'ridmap']);
      assert.deepEqual(opts('/c'), ['idmap']);
      assert.equal(opts('/t'), undefined);
    },
  },
  {
    name: 'hooks go to their stages in order',
    edits: [{ hooks: [{ hookName: 'createContainer', path: '/bin/a', args: ['a', '1'] }, { hookName: 'prestart', path: '/bin/b', env: ['X=1'], timeout: 3 }] }, { hooks: [{ hookName: 'createContainer', path: '/bin/c' }] }],
    check: (s) => assert.deepEqual(s.hooks, { createContainer: [{ path: '/bin/a', args: ['a', '1'] }, { path: '/bin/c' }], prestart: [{ path: '/bin/b', env: ['X=1'], timeout: 3 }] }),
  },
  {
    name: 'additional GIDs: zero ignored, no duplicates',
    edits: [{ additionalGids: [0, 2000, 44] }, { additionalGids: [44, 45] }],
    check: (s) => assert.deepEqual(s.process?.user?.additionalGids, [2000, 44, 45]),
  },
  {
    name: 'Intel RDT: the last device sets it',
    edits: [{ intelRdt: { closID: 'a' } }, { intelRdt: { closID: 'b', l3CacheSchema: 'L3:0=f' } }],
    check: (s) => assert.deepEqual(s.linux?.intelRdt, { closID: 'b', l3CacheSchema: 'L3:0=f' }),
  },
];
for (const c of cases) {
  test(`CDI edits: ${c.name}`, () => c.check(apply(c.edits, c.userns)));
}

test('CDI edits leave the input spec alone and report host paths of device nodes', () => {
  const input = base();
  const before = structuredClone(input);
  const r = applyCdiEdits(input, [{ edits: { env: ['Z=1'], deviceNodes: [{ path: '/dev/v', hostPath: '/dev/null', type: 'c', major: 1, minor: 3 }] }, source: 's' }], { userns: false });
  assert.deepEqual(input, before);
  assert.deepEqual([...r.deviceHostPaths], [['/dev/v', '/dev/null']]);
});

test('CDI edits this runtime cannot honour are refused, naming the source', () => {
  const edits = [{ edits: { netDevices: [{ hostInterfaceName: 'eth1', name: 'net1' }] }, source: 'CDI device "v.com/n=0" (spec /etc/cdi/n.yaml)' }];
  assert.throws(() => applyCdiEdits(base(), edits, { userns: false }), (err: unknown) => err instanceof FailedPreconditionError && /v.com\/n=0.*netDevices/.test(err.message));
  const rdt = [{ edits: { intelRdt: { schemata: ['L3:0=1'] } }, source: 's' }];
  assert.throws(() => applyCdiEdits(base(), rdt, { userns: false }), /schemata/);
});
