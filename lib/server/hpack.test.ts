import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLiterals, HpackDecoder, type HeaderField } from './hpack';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const plain = (fields: HeaderField[]): [string, string][] => fields.map((f) => [f.name.toString('latin1'), f.value.toString('latin1')]);

test('RFC 7541 C.4: requests with Huffman coding, one dynamic table across blocks', () => {
  const d = new HpackDecoder();
  assert.deepEqual(plain(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ]);
  assert.deepEqual(plain(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ]);
  assert.deepEqual(plain(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))), [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ]);
});

test('RFC 7541 C.6: responses with Huffman coding and evictions from a 256-byte table', () => {
  const d = new HpackDecoder(256);
  // The peer lowers the table to 256 first (a size update at the start of the block).
  const resize = Buffer.from([0x3f, 0xe1, 0x01]);
  assert.deepEqual(
    plain(d.decode(Buffer.concat([resize, hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3')]))),
    [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ],
  );
  assert.deepEqual(plain(d.decode(hex('4883 640e ffc1 c0bf'))), [
    [':status', '307'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['location', 'https://www.example.com'],
  ]);
  assert.deepEqual(
    plain(
      d.decode(
        hex(
          '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
        ),
      ),
    ),
    [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ['location', 'https://www.example.com'],
      ['content-encoding', 'gzip'],
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ],
  );
});

test('literal blocks decode to the same fields (long values, never-indexed kept) and leave the table empty', () => {
  const fields: HeaderField[] = [
    { name: Buffer.from(':path'), value: Buffer.from('/runtime.v1.RuntimeService/Version'), neverIndex: false },
    { name: Buffer.from('x-long'), value: Buffer.alloc(300, 'a'), neverIndex: false },
    { name: Buffer.from('authorization'), value: Buffer.from('secret'), neverIndex: true },
  ];
  const d = new HpackDecoder();
  const decoded = d.decode(encodeLiterals(fields));
  assert.deepEqual(decoded, fields);
  // Nothing was indexed: index 62 (the first dynamic entry) does not exist.
  assert.throws(() => d.decode(Buffer.from([0x80 | 62])), /no table entry 62/);
});

test('malformed blocks are errors', () => {
  const d = () => new HpackDecoder();
  assert.throws(() => d().decode(Buffer.from([0x80])), /no table entry 0/);
  assert.throws(() => d().decode(Buffer.from([0x82, 0x3f, 0xe1, 0x01])), /size update after a header field/);
  assert.throws(() => d().decode(Buffer.from([0x3f, 0xe2, 0x1f])), /above 4096/);
  assert.throws(() => d().decode(Buffer.from([0x00, 0x05, 0x61])), /truncated string/);
  // 'a' is 00011 (5 bits): padding with zeros instead of ones.
  assert.throws(() => d().decode(Buffer.from([0x00, 0x81, 0x18, 0x00])), /Huffman padding/);
  // 30 one-bits: EOS.
  assert.throws(() => d().decode(Buffer.from([0x00, 0x84, 0xff, 0xff, 0xff, 0xfc, 0x00])), /EOS/);
});
