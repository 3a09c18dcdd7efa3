import assert from 'node:assert/strict';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { runProgram } from '../process';
import { TarReader, type TarEntry } from './tar-reader';

/*
 * The reader against archives GNU tar writes (an independent producer): every sparse format,
 * binary xattrs, GNU long names, base-256 ids, hardlinks; plus truncation and trailing bytes.
 */

const isRoot = process.getuid?.() === 0;
let tmp = '';

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-tar-reader-'));
});
after(async () => {
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

interface Read {
  entry: TarEntry;
  /** Content pieces as (position, bytes). */
  pieces: { position: number; data: Buffer }[];
}

async function readAll(stream: Readable): Promise<Read[]> {
  const reader = new TarReader(stream);
  const out: Read[] = [];
  for (let e = await reader.next(); e; e = await reader.next()) {
    const pieces: Read['pieces'] = [];
    await reader.readContent((chunk, position) => pieces.push({ position, data: Buffer.from(chunk) }));
    out.push({ entry: e, pieces });
  }
  return out;
}

async function sh(cwd: string, args: string[]): Promise<void> {
  const r = await runProgram(args[0] ?? '', args.slice(1), { cwd });
  assert.equal(r.exitCode, 0, `${args.join(' ')}: ${r.stderr.toString()}`);
}

/** A directory with the given files created by `setup`, and a tar of it made by GNU tar with `flags`. */
async function gnuTar(name: string, setup: (dir: string) => Promise<void>, flags: string[], members = ['.']): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.mkdir(dir);
  await setup(dir);
  const file = path.join(tmp, `${name}.tar`);
  await sh(dir, ['tar', '-c', '-f', file, ...flags, ...members]);
  return file;
}

const SPARSE_SIZE = 64 * 1024 * 1024;
async function sparseFile(dir: string): Promise<void> {
  const fh = await fs.open(path.join(dir, 'big'), 'w');
  await fh.truncate(SPARSE_SIZE);
  await fh.write(Buffer.from('hello'), 0, 5, 1_000_000);
  await fh.write(Buffer.alloc(8192, 7), 0, 8192, 20 * 1024 * 1024);
  await fh.write(Buffer.from('tail'), 0, 4, SPARSE_SIZE - 4);
  await fh.close();
}

/** Reassembles the bytes at `[from, from+len)` of a file from pieces (holes read as zero). */
function bytesAt(pieces: Read['pieces'], from: number, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (const p of pieces) {
    const start = Math.max(from, p.position);
    const end = Math.min(from + len, p.position + p.data.length);
    if (start < end) p.data.copy(out, start - from, start - p.position, end - p.position);
  }
  return out;
}

const sparseFormats: { name: string; flags: string[] }[] = [
  { name: 'PAX 1.0', flags: ['--sparse', '--format=posix'] },
  { name: 'PAX 0.1', flags: ['--sparse', '--format=posix', '--sparse-version=0.1'] },
  { name: 'PAX 0.0', flags: ['--sparse', '--format=posix', '--sparse-version=0.0'] },
  { name: 'old GNU', flags: ['--sparse', '--format=gnu'] },
];

for (const f of sparseFormats) {
  test(`TarReader: sparse file, ${f.name} format`, async () => {
    const file = await gnuTar(`sparse-${f.name.replace(/[ .]/g, '')}`, sparseFile, f.flags, ['big']);
    assert.ok((await fs.stat(file)).size < 100_000, 'the archive itself is small');
    const [big, ...rest] = await readAll(createReadStream(file));
    assert.equal(rest.length, 0);
    assert.ok(big);
    assert.equal(big.entry.name, 'big');
    assert.equal(big.entry.type, 'file');
    assert.equal(big.entry.size, SPARSE_SIZE);
    assert.ok(big.entry.sparse, 'sparse map present');
    const stored = big.pieces.reduce((n, p) => n + p.data.length, 0);
    assert.ok(stored < 100_000, `only data blocks are passed on (${stored} bytes)`);
    assert.equal(bytesAt(big.pieces, 1_000_000, 5).toString(), 'hello');
    assert.deepEqual(bytesAt(big.pieces, 20 * 1024 * 1024, 8192), Buffer.alloc(8192, 7));
    assert.equal(bytesAt(big.pieces, SPARSE_SIZE - 4, 4).toString(), 'tail');
  });
}

test('TarReader: binary xattr values are byte-exact', async () => {
  const value = Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x20, 0x80]);
  const file = await gnuTar(
    'xattrs',
    async (d) => {
      await fs.writeFile(path.join(d, 'f'), 'x');
      await sh(d, ['setfattr', '-n', 'user.bin', '-v', '0x' + value.toString('hex'), 'f']);
      if (isRoot) await sh(d, ['setfattr', '-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', 'f']);
    },
    ['--format=posix', '--xattrs', '--xattrs-include=*'],
    ['f'],
  );
  const [f] = await readAll(createReadStream(file));
  const x = new Map((f?.entry.xattrs ?? []).map((a) => [a.name, a.value]));
  assert.deepEqual(x.get('user.bin'), value);
  if (isRoot) assert.deepEqual(x.get('security.capability'), Buffer.from('0100000200200000000000000000000000000000', 'hex'));
});

test('TarReader: GNU long names and links, base-256 ids, hardlinks', async () => {
  const long = 'd'.repeat(120) + '/' + 'n'.repeat(130);
  const file = await gnuTar(
    'gnu',
    async (d) => {
      await fs.mkdir(path.join(d, 'd'.repeat(120)));
      await fs.writeFile(path.join(d, long), 'long');
      await fs.symlink('t'.repeat(150), path.join(d, 'sym'));
      await fs.link(path.join(d, long), path.join(d, 'hard'));
    },
    ['--format=gnu', '--owner=:5000000', '--group=:5000001'],
    [long, 'sym', 'hard'],
  );
  const entries = await readAll(createReadStream(file));
  const byName = new Map(entries.map((e) => [e.entry.name, e]));
  const f = byName.get(long);
  assert.equal(f?.entry.type, 'file');
  assert.equal(f?.entry.uid, 5_000_000);
  assert.equal(f?.entry.gid, 5_000_001);
  assert.equal(Buffer.concat(f?.pieces.map((p) => p.data) ?? []).toString(), 'long');
  assert.equal(byName.get('sym')?.entry.linkname, 't'.repeat(150));
  assert.equal(byName.get('hard')?.entry.type, 'link');
  assert.equal(byName.get('hard')?.entry.linkname, long);
  assert.deepEqual(byName.get('hard')?.pieces, []);
});

test('TarReader: the stream is read to its end, past the end-of-archive marker', async () => {
  const file = await gnuTar('trail', (d) => fs.writeFile(path.join(d, 'a'), 'a'), ['--format=posix'], ['a']);
  const bytes = Buffer.concat([await fs.readFile(file), Buffer.from('trailing bytes a digest covers')]);
  const src = Readable.from([bytes]);
  assert.equal((await readAll(src)).length, 1);
  assert.ok(src.readableEnded, 'source fully consumed');
});

test('TarReader: truncation inside an entry is an invalid archive', async () => {
  const file = await gnuTar('trunc', (d) => fs.writeFile(path.join(d, 'a'), Buffer.alloc(5000, 1)), ['--format=posix'], ['a']);
  const bytes = (await fs.readFile(file)).subarray(0, 2048);
  await assert.rejects(readAll(Readable.from([bytes])), (e: unknown) => e instanceof InvalidArgumentError && /ends inside entry "a"/.test(e.message));
});
