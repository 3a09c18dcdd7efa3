import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadHooks } from './hooks-cache';

let dir: string;
const hookJson = (exe: string, when: object = { always: true }): string => JSON.stringify({ version: '1.0.0', hook: { path: exe }, when, stages: ['createContainer'] });

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-hooks-test-'));
  for (const d of ['usr', 'etc']) await fs.mkdir(path.join(dir, d));
  const w = (d: string, name: string, text: string): Promise<void> => fs.writeFile(path.join(dir, d, name), text);
  await w('usr', '10-shared.json', hookJson('/bin/true'));
  await w('etc', '10-shared.json', hookJson('/bin/false'));
  await w('usr', '20-masked-by-bad.json', hookJson('/bin/true'));
  await w('etc', '20-masked-by-bad.json', '{ not json');
  await w('usr', '30-missing.json', hookJson('/nonexistent/hook-binary'));
  await w('usr', '05-Early.json', hookJson('/bin/true'));
  await w('usr', 'README', 'not a hook');
  await fs.mkdir(path.join(dir, 'usr', 'dir.json'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('loadHooks: later directories mask by file name; refused files mask nothing and are reported', async () => {
  const { hooks, errors } = await loadHooks([path.join(dir, 'usr'), path.join(dir, 'etc'), path.join(dir, 'absent')]);
  assert.deepEqual(
    hooks.map((h) => [h.name, h.def.hook.path]),
    [
      ['05-Early.json', '/bin/true'],
      ['10-shared.json', '/bin/false'],
      ['20-masked-by-bad.json', '/bin/true'],
    ],
  );
  assert.deepEqual(
    errors.map((e) => [path.relative(dir, e.file), /invalid JSON|does not exist/.exec(e.message)?.[0]]),
    [
      ['usr/30-missing.json', 'does not exist'],
      ['etc/20-masked-by-bad.json', 'invalid JSON'],
    ],
  );
  assert.match(errors[0]?.message ?? '', /hook executable \/nonexistent\/hook-binary does not exist/);
});
