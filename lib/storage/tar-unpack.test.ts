import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pack, type Header } from 'tar-stream';
import { InvalidArgumentError } from '../errors';
import { runProgram } from '../process';
import { unpackLayer } from './tar-unpack';

/** One tar entry for a test archive. */
interface E {
  header: Partial<Header> & { name: string; pax?: Record<string, string> };
  body?: string;
}

/** Builds a tar in memory with tar-stream. */
async function buildTar(entries: readonly E[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ mtime: new Date(1_600_000_000_000), ...e.header }, e.body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const isRoot = process.getuid?.() === 0;
const T = new Date(1_500_000_000_000);
let tmp = '';
let caseNo = 0;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-tar-unpack-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

/** A fresh case dir holding `out` (the target) and an empty `outside` the archive tries to reach. */
async function caseDirs(): Promise<{ dir: string; out: string; outside: string }> {
  const dir = path.join(tmp, `case-${caseNo++}`);
  const out = path.join(dir, 'out');
  const outside = path.join(dir, 'outside');
  await fs.mkdir(out, { recursive: true });
  await fs.mkdir(outside);
  return { dir, out, outside };
}

async function assertNothingOutside(dir: string, outside: string): Promise<void> {
  assert.deepEqual((await fs.readdir(dir)).sort(), ['out', 'outside']);
  assert.deepEqual(await fs.readdir(outside), []);
}

async function getXattr(p: string, name: string): Promise<string | undefined> {
  const r = await runProgram('getfattr', ['-h', '--only-values', '-n', name, p]);
  return r.exitCode === 0 ? r.stdout.toString('utf8') : undefined;
}

const hostile: { name: string; entries: (outside: string) => E[]; bad: string }[] = [
  { name: 'dot-dot escape', entries: () => [{ header: { name: '../evil' }, body: 'x' }], bad: '../evil' },
  { name: 'nested dot-dot escape', entries: () => [{ header: { name: 'a/../../evil' }, body: 'x' }], bad: 'a/../../evil' },
  { name: 'absolute path', entries: (o) => [{ header: { name: path.join(o, 'evil') }, body: 'x' }], bad: '/' },
  {
    name: 'symlink then write through it',
    entries: (o) => [
      { header: { name: 'a', type: 'symlink', linkname: o } },
      { header: { name: 'a/x' }, body: 'pwned' },
    ],
    bad: 'a/x',
  },
  {
    name: 'symlink then mkdir through it',
    entries: (o) => [
      { header: { name: 'a', type: 'symlink', linkname: o } },
      { header: { name: 'a/d', type: 'directory', mode: 0o755 } },
    ],
    bad: 'a/d',
  },
  {
    name: 'hardlink to outside',
    entries: () => [{ header: { name: 'l', type: 'link', linkname: '../outside/secret' } }],
    bad: 'l',
  },
  {
    name: 'hardlink through a symlinked parent',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 'l', type: 'link', linkname: 's/secret' } },
    ],
    bad: 'l',
  },
  {
    name: 'directory replaced by symlink',
    entries: (o) => [
      { header: { name: 'd', type: 'directory', mode: 0o755 } },
      { header: { name: 'd', type: 'symlink', linkname: o } },
      { header: { name: 'd/x' }, body: 'pwned' },
    ],
    bad: 'd',
  },
  {
    name: 'directory replaced by hardlink to a symlink',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 'd', type: 'directory', mode: 0o755 } },
      { header: { name: 'd', type: 'link', linkname: 's' } },
      { header: { name: 'd/x' }, body: 'pwned' },
    ],
    bad: 'd',
  },
  { name: 'whiteout of ..', entries: () => [{ header: { name: 'a/.wh...' } }], bad: 'a/.wh...' },
];

for (const c of hostile) {
  test(`unpackLayer refuses: ${c.name}`, async () => {
    const { dir, out, outside } = await caseDirs();
    await fs.writeFile(path.join(outside, 'secret'), 's');
    const tar = await buildTar(c.entries(outside));
    await fs.rm(path.join(outside, 'secret'));
    await assert.rejects(unpackLayer(Readable.from([tar]), out), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, `want InvalidArgumentError, got ${String(err)}`);
      assert.ok(err.message.includes(`layer entry "${c.bad}`), `message names the entry: ${err.message}`);
      return true;
    });
    await assertNothingOutside(dir, outside);
  });
}

const good: { name: string; root?: boolean; entries: E[]; check: (out: string) => Promise<void> }[] = [
  {
    name: 'whiteout and opaque directory are converted for overlay',
    root: true,
    entries: [
      { header: { name: 'dir', type: 'directory', mode: 0o755 } },
      { header: { name: 'dir/.wh..wh..opq' } },
      { header: { name: 'dir/keep' }, body: 'new' },
      { header: { name: '.wh.gone', uid: 7, gid: 8 } },
    ],
    check: async (out) => {
      const st = await fs.lstat(path.join(out, 'gone'));
      assert.ok(st.isCharacterDevice());
      assert.equal(st.rdev, 0);
      assert.equal(st.uid, 7);
      await assert.rejects(fs.lstat(path.join(out, '.wh.gone')), { code: 'ENOENT' });
      await assert.rejects(fs.lstat(path.join(out, 'dir/.wh..wh..opq')), { code: 'ENOENT' });
      assert.equal(await getXattr(path.join(out, 'dir'), 'trusted.overlay.opaque'), 'y');
      assert.equal(await fs.readFile(path.join(out, 'dir/keep'), 'utf8'), 'new');
    },
  },
  {
    name: 'a same-layer file beats its whiteout',
    root: true,
    entries: [
      { header: { name: 'f' }, body: 'kept' },
      { header: { name: '.wh.f' } },
    ],
    check: async (out) => {
      assert.equal(await fs.readFile(path.join(out, 'f'), 'utf8'), 'kept');
    },
  },
  {
    name: 'setuid mode and ownership preserved',
    root: true,
    entries: [{ header: { name: 'bin/su', mode: 0o4755, uid: 1000, gid: 1001 }, body: '#!' }],
    check: async (out) => {
      const st = await fs.lstat(path.join(out, 'bin/su'));
      assert.equal(st.mode & 0o7777, 0o4755);
      assert.equal(st.uid, 1000);
      assert.equal(st.gid, 1001);
      assert.equal((await fs.lstat(path.join(out, 'bin'))).mode & 0o7777, 0o755);
    },
  },
  {
    name: 'mtimes preserved on files, symlinks and directories written into later',
    entries: [
      { header: { name: 'd', type: 'directory', mode: 0o750, mtime: T } },
      { header: { name: 'd/f', mtime: T }, body: 'x' },
      { header: { name: 'd/s', type: 'symlink', linkname: 'f', mtime: T } },
    ],
    check: async (out) => {
      for (const p of ['d', 'd/f', 'd/s']) assert.equal((await fs.lstat(path.join(out, p))).mtimeMs, T.getTime(), p);
      assert.equal((await fs.lstat(path.join(out, 'd'))).mode & 0o7777, 0o750);
      assert.equal(await fs.readlink(path.join(out, 'd/s')), 'f');
    },
  },
  {
    name: 'long PAX name',
    entries: [{ header: { name: `${'a'.repeat(120)}/${'b'.repeat(150)}` }, body: 'deep' }],
    check: async (out) => {
      assert.equal(await fs.readFile(path.join(out, 'a'.repeat(120), 'b'.repeat(150)), 'utf8'), 'deep');
    },
  },
  {
    name: 'hardlink inside the layer',
    entries: [
      { header: { name: 'f' }, body: 'same' },
      { header: { name: 'sub/g', type: 'link', linkname: './f' } },
    ],
    check: async (out) => {
      const [a, b] = await Promise.all([fs.lstat(path.join(out, 'f')), fs.lstat(path.join(out, 'sub/g'))]);
      assert.equal(a.ino, b.ino);
      assert.equal(a.nlink, 2);
    },
  },
  {
    name: 'symlinks may point anywhere; they are stored, never followed',
    entries: [{ header: { name: 'etc/resolv.conf', type: 'symlink', linkname: '/run/systemd/resolve/stub-resolv.conf' } }],
    check: async (out) => {
      assert.equal(await fs.readlink(path.join(out, 'etc/resolv.conf')), '/run/systemd/resolve/stub-resolv.conf');
    },
  },
  {
    name: 'device nodes and fifos',
    root: true,
    entries: [
      { header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
      { header: { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 } },
      { header: { name: 'run/fifo', type: 'fifo', mode: 0o600 } },
    ],
    check: async (out) => {
      const n = await fs.lstat(path.join(out, 'dev/null'));
      assert.ok(n.isCharacterDevice());
      assert.equal(n.rdev, (1 << 8) | 3);
      assert.equal(n.mode & 0o7777, 0o666);
      assert.ok((await fs.lstat(path.join(out, 'dev/loop0'))).isBlockDevice());
      assert.ok((await fs.lstat(path.join(out, 'run/fifo'))).isFIFO());
    },
  },
  {
    name: 'PAX xattrs applied, overlay ones refused',
    root: true,
    entries: [
      {
        header: { name: 'f', pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.trusted.overlay.redirect': '/x' } },
        body: 'x',
      },
    ],
    check: async (out) => {
      assert.equal(await getXattr(path.join(out, 'f'), 'user.note'), 'hello');
      assert.equal(await getXattr(path.join(out, 'f'), 'trusted.overlay.redirect'), undefined);
    },
  },
  {
    name: 'file replaces an earlier file and directory',
    entries: [
      { header: { name: 'x' }, body: 'old' },
      { header: { name: 'x' }, body: 'new' },
      { header: { name: 'd/inner' }, body: 'i' },
      { header: { name: 'd' }, body: 'now a file' },
    ],
    check: async (out) => {
      assert.equal(await fs.readFile(path.join(out, 'x'), 'utf8'), 'new');
      assert.equal(await fs.readFile(path.join(out, 'd'), 'utf8'), 'now a file');
    },
  },
];

for (const c of good) {
  test(`unpackLayer: ${c.name}`, { skip: c.root && !isRoot ? 'needs root' : false }, async () => {
    const { dir, out, outside } = await caseDirs();
    const res = await unpackLayer(Readable.from([await buildTar(c.entries)]), out);
    assert.equal(res.entries, c.entries.length);
    await c.check(out);
    await assertNothingOutside(dir, outside);
  });
}

test('unpackLayer counts file bytes', async () => {
  const { out } = await caseDirs();
  const res = await unpackLayer(Readable.from([await buildTar([{ header: { name: 'a' }, body: '12345' }, { header: { name: 'b' }, body: '678' }])]), out);
  assert.deepEqual(res, { bytes: 8, entries: 2 });
});

test('unpackLayer rethrows the error of a stream that fails mid-way', async () => {
  const { out } = await caseDirs();
  const tar = await buildTar([{ header: { name: 'big' }, body: 'z'.repeat(100_000) }]);
  const boom = new Error('digest mismatch');
  const src = new Readable({ read() {} });
  src.push(tar.subarray(0, 20_000));
  setImmediate(() => src.destroy(boom));
  await assert.rejects(unpackLayer(src, out), (err: unknown) => err === boom);
});

test('unpackLayer rejects a stream destroyed without an error', async () => {
  const { out } = await caseDirs();
  const tar = await buildTar([{ header: { name: 'big' }, body: 'z'.repeat(100_000) }]);
  const src = new Readable({ read() {} });
  src.push(tar.subarray(0, 20_000));
  setImmediate(() => src.destroy());
  await assert.rejects(unpackLayer(src, out), /closed before its end/);
});

test('unpackLayer rejects a truncated or garbage archive as invalid', async () => {
  const { out } = await caseDirs();
  const tar = await buildTar([{ header: { name: 'big' }, body: 'z'.repeat(10_000) }]);
  await assert.rejects(unpackLayer(Readable.from([tar.subarray(0, 5_000)]), out), InvalidArgumentError);
  await assert.rejects(unpackLayer(Readable.from([Buffer.alloc(1024, 7)]), out), InvalidArgumentError);
});

test('unpackLayer stops when aborted', async () => {
  const { out } = await caseDirs();
  const ac = new AbortController();
  const src = new Readable({ read() {} });
  const p = unpackLayer(src, out, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, { name: 'AbortError' });
});
