import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { pack, type Header } from 'tar-stream';
import { TarReader } from './tar-reader';
import { TarSplitRecorder, assembleTar, parseTarSplit } from './tar-split';

interface E {
  header: Partial<Header> & { name: string };
  body?: Buffer;
}

async function buildTar(entries: readonly E[], trailing = 0): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => p.entry({ mtime: new Date(1_600_000_000_000), mode: 0o644, ...e.header }, e.body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  await done;
  return Buffer.concat([...chunks, Buffer.alloc(trailing)]);
}

/** Reads `tar` through a recording TarReader (in small chunks); returns the recording and the files' content. */
async function record(tar: Buffer, chunk = 700): Promise<{ rec: TarSplitRecorder; files: Map<string, Buffer> }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) pieces.push(tar.subarray(i, i + chunk));
  const rec = new TarSplitRecorder();
  const reader = new TarReader(Readable.from(pieces), { recorder: rec });
  const files = new Map<string, Buffer>();
  for (let e = await reader.next(); e; e = await reader.next()) {
    if (e.type !== 'file' || e.name.endsWith('skipped')) continue; // an unread file's bytes still count
    const parts: Buffer[] = [];
    await reader.readContent((c) => parts.push(Buffer.from(c)));
    files.set(e.name, Buffer.concat(parts));
  }
  return { rec, files };
}

const big = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 255));
const cases: { name: string; entries: E[]; trailing?: number }[] = [
  {
    name: 'dirs, files, a symlink, a hardlink and a whiteout',
    entries: [
      { header: { name: 'etc/', type: 'directory', mode: 0o755 } },
      { header: { name: 'etc/passwd' }, body: Buffer.from('root:x:0:0\n') },
      { header: { name: 'etc/empty' } },
      { header: { name: 'bin/sh', uid: 1000, gid: 1001 }, body: big },
      { header: { name: 'bin/ash', type: 'link', linkname: 'bin/sh' } },
      { header: { name: 'lib', type: 'symlink', linkname: 'usr/lib' } },
      { header: { name: 'etc/.wh.old', uid: 7, gid: 7 } },
    ],
  },
  {
    name: 'PAX long names and a file skipped unread, with GNU-style trailing zeros',
    entries: [
      { header: { name: `${'d'.repeat(120)}/${'f'.repeat(120)}` }, body: Buffer.from('long') },
      { header: { name: 'x/skipped' }, body: big },
      { header: { name: 'x/after' }, body: Buffer.from('a') },
    ],
    trailing: 10240,
  },
];

for (const c of cases) {
  test(`tar-split: ${c.name} reassembles byte for byte`, async () => {
    const tar = await buildTar(c.entries, c.trailing);
    const { rec, files } = await record(tar);
    const res = await rec.result();
    assert.equal(res.size, tar.length);
    assert.ok(res.data);
    const entries = await parseTarSplit(res.data);
    const content = async (name: string): Promise<Buffer> => {
      const f = files.get(name) ?? (name.endsWith('skipped') ? big : undefined);
      if (!f) throw new Error(`no content for ${name}`);
      return f;
    };
    assert.ok((await assembleTar(entries, content)).equals(tar));
    assert.equal(entries.filter((e) => e.type === 1).length, c.entries.length, 'one file line per entry');
    const last = entries[entries.length - 1];
    assert.equal(last?.type, 2);
    assert.equal(last?.payload?.length, 0, 'ends with an empty segment');
  });
}

test('tar-split: owners exclude whiteouts; a changed file fails its checksum', async () => {
  const { rec, files } = await record(await buildTar(cases[0]?.entries ?? []));
  const res = await rec.result();
  assert.deepEqual(res.uids, [0, 1000]);
  assert.deepEqual(res.gids, [0, 1001]);
  const entries = await parseTarSplit(res.data ?? Buffer.alloc(0));
  await assert.rejects(assembleTar(entries, async (n) => (n === 'bin/sh' ? Buffer.from('other') : (files.get(n) ?? Buffer.alloc(0)))), /checksum failed for "bin\/sh"/);
});

test('tar-split: a path named twice gets no tar-split', async () => {
  const { rec } = await record(await buildTar([{ header: { name: 'a' }, body: Buffer.from('1') }, { header: { name: './a' }, body: Buffer.from('2') }]));
  assert.equal((await rec.result()).data, undefined);
});
