import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { lookupUser, parseGroup, parsePasswd, readUserDb } from './passwd';
import { secureJoin } from './secure-join';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\napp:x:1000:1001::/home/app:/bin/false\nbad:x:notanumber:1::/:\n';
const GROUP = 'root:x:0:\naudio:x:29:app,other\nbad:x:zz:\n';

test('parsePasswd skips comments and malformed lines', () => {
  assert.deepEqual(parsePasswd(PASSWD), [
    { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
    { name: 'app', uid: 1000, gid: 1001, home: '/home/app', shell: '/bin/false' },
  ]);
});

test('parseGroup reads members', () => {
  assert.deepEqual(parseGroup(GROUP), [
    { name: 'root', gid: 0, members: [] },
    { name: 'audio', gid: 29, members: ['app', 'other'] },
  ]);
});

let tmp = '';
const outside = (): string => path.join(tmp, 'outside');
const rootfsOf = (name: string): string => path.join(tmp, name);

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'passwd-test-'));
  await fs.mkdir(outside());
  await fs.writeFile(path.join(outside(), 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
  // plain: regular files
  await fs.mkdir(path.join(rootfsOf('plain'), 'etc'), { recursive: true });
  await fs.writeFile(path.join(rootfsOf('plain'), 'etc', 'passwd'), PASSWD);
  await fs.writeFile(path.join(rootfsOf('plain'), 'etc', 'group'), GROUP);
  // escape: /etc is an absolute symlink to the host's outside dir → must resolve inside the rootfs
  await fs.mkdir(rootfsOf('escape'));
  await fs.symlink(outside(), path.join(rootfsOf('escape'), 'etc'));
  // dotdot: /etc/passwd -> ../../../../outside/passwd
  await fs.mkdir(path.join(rootfsOf('dotdot'), 'etc'), { recursive: true });
  await fs.symlink('../../../../../../outside/passwd', path.join(rootfsOf('dotdot'), 'etc', 'passwd'));
  // inner: /etc -> /real/etc inside the rootfs (allowed)
  await fs.mkdir(path.join(rootfsOf('inner'), 'real', 'etc'), { recursive: true });
  await fs.writeFile(path.join(rootfsOf('inner'), 'real', 'etc', 'passwd'), 'app:x:7:7::/:\n');
  await fs.symlink('/real/etc', path.join(rootfsOf('inner'), 'etc'));
  // fifo: /etc/passwd is a directory (not a regular file)
  await fs.mkdir(path.join(rootfsOf('notfile'), 'etc', 'passwd'), { recursive: true });
  // loop
  await fs.mkdir(rootfsOf('loop'));
  await fs.symlink('/etc', path.join(rootfsOf('loop'), 'etc'));
});

after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const joinCases: { name: string; rootfs: string; path: string; want: (r: string) => string }[] = [
  { name: 'plain path', rootfs: 'plain', path: '/etc/passwd', want: (r) => path.join(r, 'etc/passwd') },
  { name: '.. cannot climb out', rootfs: 'plain', path: '/../../etc/passwd', want: (r) => path.join(r, 'etc/passwd') },
  { name: 'absolute symlink is rooted at the rootfs', rootfs: 'escape', path: '/etc/passwd', want: (r) => path.join(r, outside().slice(1), 'passwd') },
  { name: 'relative symlink with .. stays inside', rootfs: 'dotdot', path: '/etc/passwd', want: (r) => path.join(r, 'outside/passwd') },
  { name: 'symlink within the rootfs is followed', rootfs: 'inner', path: '/etc/passwd', want: (r) => path.join(r, 'real/etc/passwd') },
  { name: 'missing components are appended', rootfs: 'plain', path: '/nope/x', want: (r) => path.join(r, 'nope/x') },
];
for (const c of joinCases) {
  test(`secureJoin: ${c.name}`, async () => {
    const root = rootfsOf(c.rootfs);
    assert.equal(await secureJoin(root, c.path), c.want(root));
  });
}

test('secureJoin: symlink loop is an error', async () => {
  await assert.rejects(secureJoin(rootfsOf('loop'), '/etc/passwd'), InvalidArgumentError);
});

const dbCases: { name: string; rootfs: string; users: string[]; groups: string[] }[] = [
  { name: 'regular files', rootfs: 'plain', users: ['root', 'app'], groups: ['root', 'audio'] },
  { name: 'escaping absolute symlink reads nothing from the host', rootfs: 'escape', users: [], groups: [] },
  { name: 'escaping relative symlink reads nothing from the host', rootfs: 'dotdot', users: [], groups: [] },
  { name: 'inner symlink is fine', rootfs: 'inner', users: ['app'], groups: [] },
  { name: 'no files at all', rootfs: 'loop-free-missing', users: [], groups: [] },
];
for (const c of dbCases) {
  test(`readUserDb: ${c.name}`, async () => {
    const db = await readUserDb(rootfsOf(c.rootfs));
    assert.deepEqual(db.users.map((u) => u.name), c.users);
    assert.deepEqual(db.groups.map((g) => g.name), c.groups);
  });
}

test('readUserDb refuses a non-regular file', async () => {
  await assert.rejects(readUserDb(rootfsOf('notfile')), InvalidArgumentError);
});

test('lookupUser finds by name', async () => {
  assert.equal((await lookupUser(rootfsOf('plain'), 'app'))?.uid, 1000);
  assert.equal(await lookupUser(rootfsOf('plain'), 'ghost'), undefined);
});
