import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { diskUsage } from './disk-usage';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

const cases: { name: string; build: (d: string) => Promise<void>; inodes: number; minBytes: number }[] = [
  { name: 'empty directory', build: async () => undefined, inodes: 1, minBytes: 0 },
  {
    name: 'files, subdir and a symlink',
    build: async (d) => {
      await fs.writeFile(path.join(d, 'a'), Buffer.alloc(10_000, 1));
      await fs.mkdir(path.join(d, 'sub'));
      await fs.writeFile(path.join(d, 'sub', 'b'), 'x');
      await fs.symlink('/etc', path.join(d, 'link'));
    },
    inodes: 5,
    minBytes: 10_000,
  },
  {
    name: 'hardlinks counted once',
    build: async (d) => {
      await fs.writeFile(path.join(d, 'a'), Buffer.alloc(8192, 1));
      await fs.link(path.join(d, 'a'), path.join(d, 'b'));
      await fs.link(path.join(d, 'a'), path.join(d, 'c'));
    },
    inodes: 2,
    minBytes: 8192,
  },
];

for (const c of cases) {
  test(`diskUsage: ${c.name}`, async () => {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-du-'));
    dirs.push(d);
    await c.build(d);
    const u = await diskUsage(d);
    assert.equal(u.inodes, c.inodes);
    assert.ok(u.bytes >= c.minBytes, `bytes ${u.bytes} >= ${c.minBytes}`);
  });
}

test('diskUsage: missing directory is zero', async () => {
  assert.deepEqual(await diskUsage(path.join(os.tmpdir(), 'crio-du-does-not-exist-' + process.pid)), { bytes: 0, inodes: 0 });
});
