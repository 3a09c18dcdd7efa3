import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError, UnimplementedError } from '../errors';
import { CRI_NAMESPACE_MODE as M, hostIdOf, idMapText, requireHostId, resolveUsernsRequest, type IdMapping, type UsernsRequestInput } from './userns';

const ONE: IdMapping[] = [{ containerId: 0, hostId: 65536, length: 65536 }];
const base: UsernsRequestInput = { hostNetwork: false, hostIpc: false, hostPid: false };
const pod = (uids: IdMapping[], gids: IdMapping[] = ONE) => ({ cri: { mode: M.POD, uids, gids } });

const ok: { name: string; input: Partial<UsernsRequestInput>; want: unknown; warnings?: number }[] = [
  { name: 'nothing asked: host', input: {}, want: { mode: 'host' } },
  { name: 'NODE: host', input: { cri: { mode: M.NODE, uids: [], gids: [] } }, want: { mode: 'host' } },
  { name: 'POD with one mapping (the kubelet)', input: pod(ONE), want: { mode: 'mapped', mappings: { uids: ONE, gids: ONE } } },
  {
    name: 'POD with several non-overlapping mappings',
    input: pod([{ containerId: 0, hostId: 100000, length: 1000 }, { containerId: 1000, hostId: 300000, length: 1000 }]),
    want: { mode: 'mapped', mappings: { uids: [{ containerId: 0, hostId: 100000, length: 1000 }, { containerId: 1000, hostId: 300000, length: 1000 }], gids: ONE } },
  },
  { name: 'CRI field wins over the annotation, with a warning', input: { ...pod(ONE), annotation: 'auto' }, want: { mode: 'mapped', mappings: { uids: ONE, gids: ONE } }, warnings: 1 },
  { name: 'annotation host', input: { annotation: 'host' }, want: { mode: 'host' } },
  { name: 'annotation empty', input: { annotation: '' }, want: { mode: 'host' } },
  { name: 'annotation auto: 65536 ids', input: { annotation: 'auto' }, want: { mode: 'auto', size: 65536 } },
  { name: 'annotation auto with size', input: { annotation: 'auto:size=4096' }, want: { mode: 'auto', size: 4096 } },
  { name: 'host network without a user namespace is fine', input: { hostNetwork: true }, want: { mode: 'host' } },
];
for (const c of ok) {
  test(`resolveUsernsRequest: ${c.name}`, () => {
    const r = resolveUsernsRequest({ ...base, ...c.input });
    assert.deepEqual(r.request, c.want);
    assert.equal(r.warnings.length, c.warnings ?? 0);
  });
}

const bad: { name: string; input: Partial<UsernsRequestInput>; error: typeof InvalidArgumentError | typeof UnimplementedError; message: RegExp }[] = [
  { name: 'CONTAINER', input: { cri: { mode: M.CONTAINER, uids: ONE, gids: ONE } }, error: InvalidArgumentError, message: /mode CONTAINER/ },
  { name: 'TARGET', input: { cri: { mode: M.TARGET, uids: ONE, gids: ONE } }, error: InvalidArgumentError, message: /mode TARGET/ },
  { name: 'POD without uid mappings', input: pod([]), error: InvalidArgumentError, message: /uid mappings: no mapping/ },
  { name: 'POD without gid mappings', input: pod(ONE, []), error: InvalidArgumentError, message: /gid mappings: no mapping/ },
  { name: 'container id 0 unmapped', input: pod([{ containerId: 1, hostId: 1000, length: 10 }]), error: InvalidArgumentError, message: /container id 0 is not mapped/ },
  { name: 'zero length', input: pod([{ containerId: 0, hostId: 1000, length: 0 }]), error: InvalidArgumentError, message: /length 0/ },
  { name: 'host root', input: pod([{ containerId: 0, hostId: 0, length: 10 }]), error: InvalidArgumentError, message: /host id 0/ },
  { name: 'past the largest id', input: pod([{ containerId: 0, hostId: 0xffff_fff0, length: 100 }]), error: InvalidArgumentError, message: /largest id/ },
  {
    name: 'overlapping container ids (cri-tools)',
    input: pod([{ containerId: 0, hostId: 1000, length: 100000 }, { containerId: 0, hostId: 2000000, length: 100000 }]),
    error: InvalidArgumentError,
    message: /overlap in their container ids/,
  },
  {
    name: 'overlapping host ids',
    input: pod([{ containerId: 0, hostId: 1000, length: 100 }, { containerId: 500, hostId: 1050, length: 100 }]),
    error: InvalidArgumentError,
    message: /overlap in their host ids/,
  },
  { name: 'negative', input: pod([{ containerId: 0, hostId: -5, length: 10 }]), error: InvalidArgumentError, message: /not a non-negative integer/ },
  { name: 'with host network', input: { ...pod(ONE), hostNetwork: true }, error: InvalidArgumentError, message: /host's network namespace/ },
  { name: 'with host IPC and PID', input: { annotation: 'auto', hostIpc: true, hostPid: true }, error: InvalidArgumentError, message: /host's IPC, PID namespace/ },
  { name: 'annotation: unknown mode', input: { annotation: 'private' }, error: InvalidArgumentError, message: /mode "private"/ },
  { name: 'annotation: size not a number', input: { annotation: 'auto:size=big' }, error: InvalidArgumentError, message: /size "big"/ },
  { name: 'annotation: size too small', input: { annotation: 'auto:size=10' }, error: InvalidArgumentError, message: /outside 1024\.\.65536/ },
  { name: 'annotation: keep-id', input: { annotation: 'auto:keep-id' }, error: UnimplementedError, message: /keep-id/ },
  { name: 'annotation: unknown option', input: { annotation: 'auto:colour=red' }, error: InvalidArgumentError, message: /unknown option "colour=red"/ },
];
for (const c of bad) {
  test(`resolveUsernsRequest refuses: ${c.name}`, () => {
    assert.throws(() => resolveUsernsRequest({ ...base, ...c.input }), (err: unknown) => err instanceof c.error && c.message.test((err as Error).message));
  });
}

const maps: IdMapping[] = [{ containerId: 0, hostId: 100000, length: 1000 }, { containerId: 1000, hostId: 500000, length: 10 }];
for (const [id, want] of [[0, 100000], [999, 100999], [1000, 500000], [1009, 500009], [1010, undefined]] as const) {
  test(`hostIdOf ${id}`, () => assert.equal(hostIdOf(maps, id), want));
}

test('requireHostId names an unmapped id', () => {
  assert.equal(requireHostId(maps, 5, 'user id'), 100005);
  assert.throws(() => requireHostId(maps, 70000, 'user id'), /user id 70000 is not mapped/);
});

test('idMapText is what /proc/<pid>/uid_map takes', () => {
  assert.equal(idMapText(maps), '0 100000 1000\n1000 500000 10\n');
});
