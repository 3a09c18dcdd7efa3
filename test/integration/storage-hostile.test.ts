import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { gnuLongNameEntry, layerStoreState, rawImage, rawTar, type RawEntry } from './storage-fixtures';

/*
 * A corpus of hostile layers, each pulled through the real daemon from a real registry: every
 * pull must fail with INVALID_ARGUMENT naming the bad entry, nothing may appear outside the
 * layer (a canary directory stays empty), and no half layer may stay in the store.
 */

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
let registry: TestRegistry;
let daemon: TestDaemon;
/** The directory the hostile layers aim at. */
let outside = '';
let scratch = '';

/** Each escape kind: the entries, and the entry name the error must quote. */
const corpus: { name: string; entries: (o: string) => RawEntry[] | Buffer; bad: string | ((o: string) => string) }[] = [
  { name: 'dotdot', entries: () => [{ header: { name: '../../../../../../../../tmp/crio-evil' }, body: 'x' }], bad: '../../../../../../../../tmp/crio-evil' },
  { name: 'absolute', entries: (o) => [{ header: { name: `${o}/evil` }, body: 'x' }], bad: (o) => `${o}/evil` },
  {
    name: 'abs-symlink-parent',
    entries: (o) => [
      { header: { name: 'a', type: 'symlink', linkname: o } },
      { header: { name: 'a/evil' }, body: 'x' },
    ],
    bad: 'a/evil',
  },
  {
    name: 'rel-symlink-parent',
    entries: (o) => [
      { header: { name: 'a', type: 'symlink', linkname: `../../../../../../../../../..${o}` } },
      { header: { name: 'a/evil' }, body: 'x' },
    ],
    bad: 'a/evil',
  },
  {
    name: 'symlink-parent-mkdir',
    entries: (o) => [
      { header: { name: 'a', type: 'symlink', linkname: o } },
      { header: { name: 'a/dir', type: 'directory', mode: 0o755 } },
    ],
    bad: 'a/dir',
  },
  { name: 'hardlink-outside', entries: () => [{ header: { name: 'h', type: 'link', linkname: '../../../../../../../../etc/passwd' } }], bad: 'h' },
  {
    name: 'hardlink-through-symlink',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 'h', type: 'link', linkname: 's/canary' } },
    ],
    bad: 'h',
  },
  {
    name: 'dir-replaced-by-symlink',
    entries: (o) => [
      { header: { name: 'd', type: 'directory', mode: 0o755 } },
      { header: { name: 'd', type: 'symlink', linkname: o } },
      { header: { name: 'd/evil' }, body: 'x' },
    ],
    bad: 'd',
  },
  { name: 'pax-path', entries: () => [{ header: { name: 'innocent', pax: { path: '../../evil' } }, body: 'x' }], bad: '../../evil' },
  { name: 'gnu-longname', entries: () => gnuLongNameEntry(`../../${'x'.repeat(120)}`, 'x'), bad: `../../${'x'.repeat(120)}` },
  {
    name: 'whiteout-through-symlink',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 's/.wh.canary' } },
    ],
    bad: 's/.wh.canary',
  },
  {
    name: 'device-through-symlink',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 's/sda', type: 'block-device', devmajor: 8, devminor: 0 } },
    ],
    bad: 's/sda',
  },
];

before(async () => {
  if (skip) return;
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-hostile-'));
  outside = path.join(scratch, 'outside');
  await fs.mkdir(outside);
  registry = await startRegistry();
  for (const c of corpus) {
    const entries = c.entries(outside);
    const tar = Buffer.isBuffer(entries) ? entries : await rawTar(entries);
    await registry.push(`hostile/${c.name}`, 'latest', rawImage([tar]));
  }
  await registry.push('benign/ok', 'latest', rawImage([await rawTar([{ header: { name: 'ok' }, body: 'fine' }])]));
  daemon = await startDaemon({ netIndex: 130, noCni: true, registriesConf: `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n` });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

for (const c of corpus) {
  test(`hostile layer refused: ${c.name}`, { skip }, async () => {
    await fs.writeFile(path.join(outside, 'canary'), 'untouched');
    const bad = typeof c.bad === 'string' ? c.bad : c.bad(outside);
    await assert.rejects(daemon.cri.image.pullImage({ image: { image: `${registry.host}/hostile/${c.name}:latest` } }), (err: unknown) => {
      const e = err as { code?: number; message?: string };
      assert.equal(e.code, grpcStatus.INVALID_ARGUMENT, String(e.message));
      assert.ok(e.message?.includes(`layer entry ${JSON.stringify(bad)}`), `error names the entry: ${e.message ?? ''}`);
      return true;
    });
    assert.deepEqual(await fs.readdir(outside), ['canary']);
    assert.equal(await fs.readFile(path.join(outside, 'canary'), 'utf8'), 'untouched');
    await assert.rejects(fs.lstat('/tmp/crio-evil'), { code: 'ENOENT' });
    const st = await layerStoreState(path.join(daemon.dir, 'root'));
    assert.deepEqual(st, { complete: [], incomplete: [], danglingLinks: [] }, 'no half layer left');
    const img = await daemon.cri.image.imageStatus({ image: { image: `${registry.host}/hostile/${c.name}:latest` } });
    assert.equal(img.image, undefined);
  });
}

test('after the corpus, a benign image still pulls', { skip }, async () => {
  const r = await daemon.cri.image.pullImage({ image: { image: `${registry.host}/benign/ok:latest` } });
  assert.match(r.imageRef, /^[0-9a-f]{64}$/);
  assert.equal((await layerStoreState(path.join(daemon.dir, 'root'))).complete.length, 1);
});
