import assert from 'node:assert/strict';
import { test } from 'node:test';
import { usernsPinnsArgs } from './userns-pinns';

const mappings = { uids: [{ containerId: 0, hostId: 65536, length: 65536 }], gids: [{ containerId: 0, hostId: 65536, length: 65536 }, { containerId: 65536, hostId: 200000, length: 10 }] };

const cases = [
  {
    name: 'all namespaces, shm and a setup command',
    input: { mappings, userFile: '/r/userns/p', files: { net: '/r/netns/p', ipc: '/r/ipcns/p', uts: '/r/utsns/p' }, shm: { path: '/s', options: 'size=1,uid=65536' }, hostname: 'pod_1', command: ['ip', 'link'] },
    tail: ['0 65536 65536\n', '0 65536 65536\n65536 200000 10\n', '/r/userns/p', 'net=/r/netns/p,ipc=/r/ipcns/p,uts=/r/utsns/p', '/s|size=1,uid=65536', 'pod_1', 'ip', 'link'],
  },
  {
    name: 'only the net namespace, nothing to run',
    input: { mappings, userFile: '/u', files: { net: '/n' }, command: [] },
    tail: ['0 65536 65536\n', '0 65536 65536\n65536 200000 10\n', '/u', 'net=/n', '', ''],
  },
];
for (const c of cases) {
  test(`usernsPinnsArgs: ${c.name}`, () => {
    const args = usernsPinnsArgs(c.input);
    assert.equal(args[0], '-e');
    assert.match(args[1] ?? '', /fork_unshared\(\$flags\)/);
    assert.equal(args[2], '--');
    assert.deepEqual(args.slice(3), c.tail);
  });
}
