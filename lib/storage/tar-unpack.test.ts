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
  { name: 'whiteout of an empty name', entries: () => [{ header: { name: 'a/.wh.' } }], bad: 'a/.wh.' },
  {
    name: 'relative symlink climbing out, used as a parent',
    entries: () => [
      { header: { name: 'a', type: 'symlink', linkname: '../outside' } },
      { header: { name: 'a/x' }, body: 'pwned' },
    ],
    bad: 'a/x',
  },
  { name: 'PAX path record escaping', entries: () => [{ header: { name: 'harmless', pax: { path: '../evil' } }, body: 'x' }], bad: '../evil' },
  {
    name: 'whiteout through a symlinked parent',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 's/.wh.secret' } },
    ],
    bad: 's/.wh.secret',
  },
  {
    name: 'opaque marker through a symlinked parent',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 's/.wh..wh..opq' } },
    ],
    bad: 's/.wh..wh..opq',
  },
  {
    name: 'device node through a symlinked parent',
    entries: (o) => [
      { header: { name: 's', type: 'symlink', linkname: o } },
      { header: { name: 's/null', type: 'character-device', devmajor: 1, devminor: 3 } },
    ],
    bad: 's/null',
  },
  { name: 'hardlink to an absolute path not in the layer', entries: () => [{ header: { name: 'l', type: 'link', linkname: '/etc/passwd' } }], bad: 'l' },
  {
    name: 'entry below a device node',
    entries: () => [
      { header: { name: 'n', type: 'character-device', devmajor: 1, devminor: 3 } },
      { header: { name: 'n/x' }, body: 'x' },
    ],
    bad: 'n/x',
  },
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
    name: 'a file replacing a symlink to the outside is written inside',
    entries: [
      { header: { name: 'l', type: 'symlink', linkname: '/proc/self/cwd/../outside/x' } },
      { header: { name: 'l' }, body: 'inside' },
    ],
    check: async (out) => {
      assert.equal(await fs.readFile(path.join(out, 'l'), 'utf8'), 'inside');
    },
  },
  {
    name: 'whiteouts yield to same-layer entries; nodes are batched',
    root: true,
    entries: [
      { header: { name: '.wh.a' } },
      { header: { name: 'a/b' }, body: 'kept' },
      { header: { name: 'n', type: 'character-device', devmajor: 1, devminor: 3 } },
      { header: { name: 'n' }, body: 'file wins' },
      { header: { name: '.wh.dev' } },
      { header: { name: 'dev', type: 'fifo' } },
      { header: { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
      { header: { name: 'null2', type: 'link', linkname: 'null' } },
      { header: { name: 'gone/.wh.x', uid: 3, gid: 4 } },
      { header: { name: 'remapped/.wh.y', pax: { uid: '100000000', gid: '100000001' } } },
    ],
    check: async (out) => {
      assert.equal(await fs.readFile(path.join(out, 'a/b'), 'utf8'), 'kept');
      assert.equal(await fs.readFile(path.join(out, 'n'), 'utf8'), 'file wins');
      assert.ok((await fs.lstat(path.join(out, 'dev'))).isFIFO());
      const [a, b] = await Promise.all([fs.lstat(path.join(out, 'null')), fs.lstat(path.join(out, 'null2'))]);
      assert.ok(a.isCharacterDevice());
      assert.equal(a.ino, b.ino);
      const w = await fs.lstat(path.join(out, 'gone/x'));
      assert.ok(w.isCharacterDevice());
      assert.equal(w.rdev, 0);
      assert.equal(w.mode & 0o7777, 0);
      assert.deepEqual([w.uid, w.gid], [3, 4]);
      const big = await fs.lstat(path.join(out, 'remapped/y'));
      assert.deepEqual([big.uid, big.gid], [100_000_000, 100_000_001]);
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

/** Builds a tar with GNU tar from a directory `setup` fills (an independent producer). */
async function gnuTar(setup: (dir: string) => Promise<void>, flags: string[]): Promise<Buffer> {
  const src = path.join(tmp, `src-${caseNo++}`);
  await fs.mkdir(src);
  await setup(src);
  const r = await runProgram('tar', ['-c', '-f', '-', ...flags, '.'], { cwd: src });
  assert.equal(r.exitCode, 0, r.stderr.toString());
  await fs.rm(src, { recursive: true, force: true });
  return r.stdout;
}

test('unpackLayer: binary xattrs (security.capability) are applied byte-exact', { skip: isRoot ? false : 'needs root' }, async () => {
  const cap = '0x0100000200200000000000000000000000000000';
  const tar = await gnuTar(async (d) => {
    await fs.writeFile(path.join(d, 'ping'), 'x', { mode: 0o755 });
    await runProgram('setfattr', ['-n', 'security.capability', '-v', cap, path.join(d, 'ping')]);
    await runProgram('setfattr', ['-n', 'user.bin', '-v', '0x00ff0a3d20', path.join(d, 'ping')]);
  }, ['--format=posix', '--xattrs', '--xattrs-include=*']);
  const { out } = await caseDirs();
  await unpackLayer(Readable.from([tar]), out);
  const hex = async (name: string) => (await runProgram('getfattr', ['-h', '-e', 'hex', '--only-values', '-n', name, path.join(out, 'ping')])).stdout.toString('hex');
  assert.equal(await hex('security.capability'), cap.slice(2));
  assert.equal(await hex('user.bin'), '00ff0a3d20');
});

test('unpackLayer: a GNU-sparse 1 GiB file stays sparse', async () => {
  const size = 1024 ** 3;
  const tar = await gnuTar(async (d) => {
    const fh = await fs.open(path.join(d, 'sparse'), 'w');
    await fh.truncate(size);
    await fh.write(Buffer.from('middle'), 0, 6, size / 2);
    await fh.close();
  }, ['--sparse', '--format=posix']);
  assert.ok(tar.length < 64 * 1024);
  const { out } = await caseDirs();
  await unpackLayer(Readable.from([tar]), out);
  const st = await fs.stat(path.join(out, 'sparse'));
  assert.equal(st.size, size);
  assert.ok(st.blocks <= 16, `allocated ${st.blocks} blocks`);
  const fh = await fs.open(path.join(out, 'sparse'), 'r');
  const b = Buffer.alloc(6);
  await fh.read(b, 0, 6, size / 2);
  await fh.close();
  assert.equal(b.toString(), 'middle');
});

test('unpackLayer counts file bytes', async () => {
  const { out } = await caseDirs();
  const res = await unpackLayer(Readable.from([await buildTar([{ header: { name: 'a' }, body: '12345' }, { header: { name: 'b' }, body: '678' }])]), out);
  assert.deepEqual(res, { bytes: 8, entries: 2, rootSet: false });
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
