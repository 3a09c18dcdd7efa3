import assert from 'node:assert/strict';
import { closeSync, openSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { HoleWriter } from './file-writer';

let tmp = '';
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-hole-writer-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const cases: { name: string; size: number; writes: { at: number; data: Buffer }[]; maxBlocks: number }[] = [
  { name: 'all zeros stays a hole', size: 8 * MiB, writes: [{ at: 0, data: Buffer.alloc(8 * MiB) }], maxBlocks: 0 },
  {
    name: 'data between zero runs, chunks not block aligned',
    size: 4 * MiB,
    writes: [
      { at: 0, data: Buffer.concat([Buffer.alloc(MiB + 100), Buffer.from('hello'), Buffer.alloc(MiB)]) },
      { at: 2 * MiB + 105, data: Buffer.alloc(MiB) },
    ],
    maxBlocks: 16,
  },
  { name: 'dense data is written in full', size: MiB, writes: [{ at: 0, data: Buffer.alloc(MiB, 1) }], maxBlocks: 2 * 2048 },
  { name: 'trailing hole extends the file', size: 3 * MiB, writes: [{ at: 0, data: Buffer.from('x') }], maxBlocks: 16 },
];

for (const c of cases) {
  test(`HoleWriter: ${c.name}`, async () => {
    const file = path.join(tmp, c.name.replace(/\W+/g, '-'));
    const fd = openSync(file, 'wx');
    try {
      const w = new HoleWriter(fd);
      for (const x of c.writes) w.write(x.data, x.at);
      w.finish(c.size);
    } finally {
      closeSync(fd);
    }
    const st = await fs.stat(file);
    assert.equal(st.size, c.size);
    assert.ok(st.blocks <= c.maxBlocks, `${st.blocks} blocks <= ${c.maxBlocks}`);
    const content = await fs.readFile(file);
    const want = Buffer.alloc(c.size);
    for (const x of c.writes) x.data.copy(want, x.at);
    assert.ok(content.equals(want), 'content reads back exactly');
  });
}
