import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BASE_DIFF_MODE, installPreparedLayerDir, prepareEmptyLayerDir } from './layer-dirs';

/** A store home with one image layer `parent` (link file, l/ symlink, a diff with its own mode and owner). */
async function homeWithParent(): Promise<{ home: string; staging: string; parent: string; parentShort: string; cleanup: () => Promise<void> }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-layer-dirs-'));
  const home = path.join(root, 'overlay');
  const staging = path.join(home, 'crio-staging');
  const parent = 'a'.repeat(64);
  const parentShort = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  await fs.mkdir(path.join(home, 'l'), { recursive: true });
  await fs.mkdir(staging);
  await fs.mkdir(path.join(home, parent, 'diff'), { recursive: true });
  await fs.chmod(path.join(home, parent, 'diff'), 0o751);
  await fs.chown(path.join(home, parent, 'diff'), 123, 456);
  await fs.writeFile(path.join(home, parent, 'link'), parentShort);
  await fs.symlink(`../${parent}/diff`, path.join(home, 'l', parentShort));
  return { home, staging, parent, parentShort, cleanup: () => fs.rm(root, { recursive: true, force: true }) };
}

test('prepareEmptyLayerDir: the layer is made in staging only; install moves it into the store and links it', async () => {
  const h = await homeWithParent();
  try {
    const id = 'b'.repeat(64);
    const prepared = await prepareEmptyLayerDir(h.home, id, h.parent, path.join(h.staging, `${id}-rw`));
    // Nothing in the store yet: a crash here leaves only staging, which the layer store empties at start.
    assert.deepEqual((await fs.readdir(h.home)).sort(), [h.parent, 'crio-staging', 'l'].sort());
    assert.deepEqual(await fs.readdir(path.join(h.home, 'l')), [h.parentShort]);
    assert.deepEqual((await fs.readdir(prepared.dir)).sort(), ['diff', 'link', 'lower', 'merged', 'work']);

    await installPreparedLayerDir(h.home, prepared);
    const dir = path.join(h.home, id);
    assert.equal(await fs.readFile(path.join(dir, 'link'), 'utf8'), prepared.short);
    assert.equal(await fs.readFile(path.join(dir, 'lower'), 'utf8'), `l/${h.parentShort}`);
    assert.equal(await fs.readlink(path.join(h.home, 'l', prepared.short)), `../${id}/diff`);
    const diff = await fs.stat(path.join(dir, 'diff'));
    assert.deepEqual([diff.mode & 0o7777, diff.uid, diff.gid], [0o751, 123, 456], "diff takes the parent diff's mode and owner");
    for (const sub of ['', 'work', 'merged']) assert.equal((await fs.stat(path.join(dir, sub))).mode & 0o7777, 0o700, `${sub || 'layer dir'} mode`);
    await assert.rejects(fs.stat(prepared.dir), { code: 'ENOENT' });
  } finally {
    await h.cleanup();
  }
});

test('prepareEmptyLayerDir: a base layer (no parent) gets the base diff mode, `empty` and no lower file', async () => {
  const h = await homeWithParent();
  try {
    const id = 'c'.repeat(64);
    const prepared = await prepareEmptyLayerDir(h.home, id, undefined, path.join(h.staging, `${id}-rw`));
    assert.deepEqual((await fs.readdir(prepared.dir)).sort(), ['diff', 'empty', 'link', 'merged', 'work']);
    assert.equal((await fs.stat(path.join(prepared.dir, 'diff'))).mode & 0o7777, BASE_DIFF_MODE);
  } finally {
    await h.cleanup();
  }
});

test('installPreparedLayerDir: a leftover directory under the same ID (a crash) is replaced, with its short link', async () => {
  const h = await homeWithParent();
  try {
    const id = 'd'.repeat(64);
    const stale = 'ZYXWVUTSRQPONMLKJIHGFEDCBA';
    await fs.mkdir(path.join(h.home, id, 'diff', 'old'), { recursive: true });
    await fs.writeFile(path.join(h.home, id, 'link'), stale);
    await fs.symlink(`../${id}/diff`, path.join(h.home, 'l', stale));
    const prepared = await prepareEmptyLayerDir(h.home, id, h.parent, path.join(h.staging, `${id}-rw`));
    await installPreparedLayerDir(h.home, prepared);
    assert.deepEqual(await fs.readdir(path.join(h.home, id, 'diff')), []);
    assert.deepEqual((await fs.readdir(path.join(h.home, 'l'))).sort(), [h.parentShort, prepared.short].sort());
  } finally {
    await h.cleanup();
  }
});
