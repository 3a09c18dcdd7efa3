import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { checkSparseMap, decodeHeader, parseNumeric, parsePaxRecords, parseSparseMap1x0 } from './tar-header';

/** A PAX record with a correct length prefix; `value` may be any bytes. */
function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A ustar header block with a valid checksum. */
function header(fields: { name: string; typeflag?: string; size?: number; magic?: 'ustar' | 'gnu' | 'none'; raw?: (b: Buffer) => void }): Buffer {
  const b = Buffer.alloc(512);
  b.write(fields.name, 0, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write((fields.size ?? 0).toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('00000000000\0', 136, 'latin1');
  b.write(fields.typeflag ?? '0', 156, 'latin1');
  if (fields.magic !== 'none') b.write(fields.magic === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  fields.raw?.(b);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

const numeric: { name: string; field: Buffer; want?: number; error?: RegExp }[] = [
  { name: 'octal with NUL', field: Buffer.from('0000755\0'), want: 0o755 },
  { name: 'octal with spaces', field: Buffer.from(' 17 \0'), want: 15 },
  { name: 'empty', field: Buffer.alloc(8), want: 0 },
  { name: 'base-256', field: Buffer.from([0x80, 0, 0, 0, 0, 0x4c, 0x4b, 0x40]), want: 5_000_000 },
  { name: 'negative base-256', field: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), error: /negative/ },
  { name: 'not octal', field: Buffer.from('00008\0'), error: /not octal/ },
  { name: 'base-256 beyond 2^53', field: Buffer.from([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), error: /too large/ },
];

for (const c of numeric) {
  test(`parseNumeric: ${c.name}`, () => {
    if (c.error) assert.throws(() => parseNumeric(c.field, 'uid'), (e: unknown) => e instanceof InvalidArgumentError && c.error?.test(e.message) === true);
    else assert.equal(parseNumeric(c.field, 'uid'), c.want);
  });
}

const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');

const pax: { name: string; data: Buffer; want?: { key: string; value: Buffer }[]; error?: RegExp }[] = [
  {
    name: 'binary xattr value survives byte for byte',
    data: paxRecord('SCHILY.xattr.security.capability', capability),
    want: [{ key: 'SCHILY.xattr.security.capability', value: capability }],
  },
  {
    name: 'value holding newline, "=" and invalid UTF-8',
    data: paxRecord('SCHILY.xattr.user.x', Buffer.from([0x0a, 0x3d, 0xff, 0x00])),
    want: [{ key: 'SCHILY.xattr.user.x', value: Buffer.from([0x0a, 0x3d, 0xff, 0x00]) }],
  },
  {
    name: 'repeated keys kept in order (PAX 0.0 sparse)',
    data: Buffer.concat([paxRecord('GNU.sparse.offset', '0'), paxRecord('GNU.sparse.numbytes', '5'), paxRecord('GNU.sparse.offset', '9')]),
    want: [
      { key: 'GNU.sparse.offset', value: Buffer.from('0') },
      { key: 'GNU.sparse.numbytes', value: Buffer.from('5') },
      { key: 'GNU.sparse.offset', value: Buffer.from('9') },
    ],
  },
  { name: 'trailing NUL padding ignored', data: Buffer.concat([paxRecord('path', 'a'), Buffer.alloc(10)]), want: [{ key: 'path', value: Buffer.from('a') }] },
  { name: 'length past the end', data: Buffer.from('99 path=a\n'), error: /malformed PAX record/ },
  { name: 'length not a number', data: Buffer.from('x9 path=a\n'), error: /length/ },
  { name: 'no "="', data: Buffer.from('10 pathaa\n'), error: /without "="/ },
  { name: 'no newline at the end', data: Buffer.from('10 path=ab'), error: /malformed PAX record/ },
];

for (const c of pax) {
  test(`parsePaxRecords: ${c.name}`, () => {
    if (c.error) assert.throws(() => parsePaxRecords(c.data), (e: unknown) => e instanceof InvalidArgumentError && c.error?.test(e.message) === true);
    else assert.deepEqual(parsePaxRecords(c.data), c.want);
  });
}

const headers: { name: string; block: Buffer; want?: Partial<ReturnType<typeof decodeHeader>>; error?: RegExp }[] = [
  { name: 'ustar file', block: header({ name: 'etc/passwd', size: 10 }), want: { name: 'etc/passwd', kind: 'file', size: 10, mode: 0o644 } },
  {
    name: 'ustar prefix joined',
    block: header({ name: 'file', raw: (b) => b.write('some/dir', 345, 'latin1') }),
    want: { name: 'some/dir/file', kind: 'file' },
  },
  { name: 'old-style directory (NUL type, trailing slash)', block: header({ name: 'd/', typeflag: '\0', magic: 'none' }), want: { kind: 'directory' } },
  { name: 'PAX extended header', block: header({ name: 'PaxHeaders/x', typeflag: 'x', size: 30 }), want: { kind: 'pax' } },
  { name: 'GNU long name', block: header({ name: '././@LongLink', typeflag: 'L', size: 300, magic: 'gnu' }), want: { kind: 'gnu-long-name' } },
  { name: 'bad checksum', block: (() => { const b = header({ name: 'x' }); b[0] = 0x79; return b; })(), error: /checksum/ },
  { name: 'unsupported type', block: header({ name: 'x', typeflag: 'M' }), error: /entry "x" has unsupported type "M"/ },
  { name: 'GNU sparse type outside GNU format', block: header({ name: 'x', typeflag: 'S' }), error: /unsupported type "S"/ },
];

for (const c of headers) {
  test(`decodeHeader: ${c.name}`, () => {
    if (c.error) {
      assert.throws(() => decodeHeader(c.block), (e: unknown) => e instanceof InvalidArgumentError && c.error?.test(e.message) === true);
      return;
    }
    const h = decodeHeader(c.block);
    for (const [k, v] of Object.entries(c.want ?? {})) assert.deepEqual((h as unknown as Record<string, unknown>)[k], v, k);
  });
}

test('parseSparseMap1x0: needs all lines, then parses', () => {
  assert.equal(parseSparseMap1x0(Buffer.from('2\n0\n5\n')), undefined);
  assert.deepEqual(parseSparseMap1x0(Buffer.from('2\n0\n5\n100\n7\n\0\0')), [
    { offset: 0, length: 5 },
    { offset: 100, length: 7 },
  ]);
  assert.throws(() => parseSparseMap1x0(Buffer.from('x\n')), InvalidArgumentError);
});

const sparse: { name: string; segments: { offset: number; length: number }[]; size: number; want?: number; error?: boolean }[] = [
  { name: 'in order', segments: [{ offset: 0, length: 5 }, { offset: 10, length: 5 }], size: 20, want: 10 },
  { name: 'overlapping', segments: [{ offset: 0, length: 5 }, { offset: 4, length: 5 }], size: 20, error: true },
  { name: 'beyond the real size', segments: [{ offset: 18, length: 5 }], size: 20, error: true },
  { name: 'out of order', segments: [{ offset: 10, length: 1 }, { offset: 0, length: 1 }], size: 20, error: true },
];

for (const c of sparse) {
  test(`checkSparseMap: ${c.name}`, () => {
    if (c.error) assert.throws(() => checkSparseMap(c.segments, c.size, 'f'), /sparse map/);
    else assert.equal(checkSparseMap(c.segments, c.size, 'f'), c.want);
  });
}
