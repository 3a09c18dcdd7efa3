import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { InternalError } from '../errors';
import { nullLogger } from '../log';
import { readExitFile, watchExitFiles } from './exit-files';

let dir = '';
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'exits-test-'));
});
after(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const cases: { name: string; content?: string; want?: number; throws?: boolean }[] = [
  { name: 'missing file', want: undefined },
  { name: 'zero', content: '0', want: 0 },
  { name: 'signal exit', content: '137', want: 137 },
  { name: 'timed-out exec', content: '-1', want: -1 },
  { name: 'trailing newline', content: '7\n', want: 7 },
  { name: 'garbage', content: 'abc', throws: true },
  { name: 'empty', content: '', throws: true },
];
for (const [i, c] of cases.entries()) {
  test(`readExitFile: ${c.name}`, async () => {
    const id = `c${i}`;
    if (c.content !== undefined) await fs.writeFile(path.join(dir, id), c.content);
    if (c.throws) return assert.rejects(readExitFile(dir, id), InternalError);
    const info = await readExitFile(dir, id);
    assert.equal(info?.exitCode, c.want);
    if (c.want !== undefined) assert.ok(info?.finishedAt instanceof Date);
  });
}

test('watchExitFiles reports renamed-in exit files once, ignoring temp names', async () => {
  const seen: string[] = [];
  let notify: () => void = () => undefined;
  const got = new Promise<void>((resolve) => {
    notify = resolve;
  });
  const stop = watchExitFiles(dir, (id) => {
    seen.push(id);
    if (id === 'ctr2') notify();
  }, nullLogger());
  try {
    // conmon's g_file_set_contents: write "<id>.XXXXXX", then rename to "<id>".
    await fs.writeFile(path.join(dir, 'ctr1.AB12CD'), '0');
    await fs.rename(path.join(dir, 'ctr1.AB12CD'), path.join(dir, 'ctr1'));
    await fs.writeFile(path.join(dir, 'ctr2.XY34ZW'), '1');
    await fs.rename(path.join(dir, 'ctr2.XY34ZW'), path.join(dir, 'ctr2'));
    await got;
    assert.deepEqual(seen.filter((s) => s === 'ctr1'), ['ctr1']);
    assert.ok(seen.every((s) => !s.includes('.')));
  } finally {
    stop();
  }
});
