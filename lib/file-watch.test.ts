import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WatchedSource } from './file-watch';
import { nullLogger } from './log';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-watch-test-'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

const list = async (d: string): Promise<string> => (await fs.readdir(d).catch(() => [])).sort().join(',');

/** Waits (generously: the host is shared) until the source's value is `want`. */
async function until<T>(source: WatchedSource<T>, want: T): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (source.current() !== want) {
    assert.ok(Date.now() < deadline, `value stayed ${JSON.stringify(source.current())}, wanted ${JSON.stringify(want)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `body` with a source listing directory `target`. */
async function withListing(target: string, body: (source: WatchedSource<string>) => Promise<void>): Promise<void> {
  const source = await WatchedSource.forDirs('test', [target], async ([d = '']) => list(d), nullLogger());
  try {
    await body(source);
  } finally {
    source.close();
  }
}

test('a directory target: created later below a missing parent, removed, made again', async () => {
  const target = path.join(dir, 'a', 'b', 'specs');
  await fs.mkdir(path.join(dir, 'a'));
  await withListing(target, async (source) => {
    assert.equal(source.current(), '');
    await fs.mkdir(target, { recursive: true });
    await fs.writeFile(path.join(target, 'one.json'), '{}');
    await until(source, 'one.json');
    await fs.rm(path.join(dir, 'a', 'b'), { recursive: true });
    await until(source, '');
    // The new directory may reuse the old one's inode number.
    await fs.mkdir(target, { recursive: true });
    await fs.writeFile(path.join(target, 'two.json'), '{}');
    await until(source, 'two.json');
  });
});

test('an ancestor removed and made again is watched anew', async () => {
  const base = path.join(dir, 'anc');
  await fs.mkdir(base);
  const target = path.join(base, 'x', 'y');
  await withListing(target, async (source) => {
    await fs.rm(base, { recursive: true });
    await fs.mkdir(target, { recursive: true });
    await fs.writeFile(path.join(target, 'f.json'), '{}');
    await until(source, 'f.json');
  });
});

test('a file target: written, replaced by rename, removed', async () => {
  const file = path.join(dir, 'mounts.conf');
  const read = async (): Promise<string> => fs.readFile(file, 'utf8').catch(() => 'none');
  const source = await WatchedSource.start({ what: 'test', targets: () => [{ path: file, kind: 'file' }], load: read, log: nullLogger() });
  try {
    assert.equal(source.current(), 'none');
    await fs.writeFile(file, 'v1');
    await until(source, 'v1');
    await fs.writeFile(`${file}.tmp`, 'v2');
    await fs.rename(`${file}.tmp`, file);
    await until(source, 'v2');
    await fs.rm(file);
    await until(source, 'none');
  } finally {
    source.close();
  }
});

test('refresh loads now, and concurrent refreshes share a load', async () => {
  let loads = 0;
  const source = await WatchedSource.start({ what: 'test', targets: () => [], load: async () => ++loads, log: nullLogger() });
  const [a, b] = await Promise.all([source.refresh(), source.refresh()]);
  assert.equal(a, 2);
  assert.equal(b, 2);
  assert.equal(await source.refresh(), 3);
  source.close();
});
