import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Crc64 } from './crc64';

// Check values of CRC-64/GO-ISO (the catalogue's check string, and Go's hash/crc64 ISO table).
const cases: { name: string; input: Buffer; hex: string }[] = [
  { name: 'empty', input: Buffer.alloc(0), hex: '0000000000000000' },
  { name: 'catalogue check "123456789"', input: Buffer.from('123456789'), hex: 'b90956c775a41001' },
  { name: 'one byte', input: Buffer.from('a'), hex: '3420000000000000' },
];

for (const c of cases) {
  test(`crc64 ISO: ${c.name}`, () => {
    const h = new Crc64();
    h.update(c.input);
    assert.equal(h.digest().toString('hex'), c.hex);
  });
}

test('crc64 ISO: split updates equal one update', () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 255));
  const whole = new Crc64();
  whole.update(data);
  for (const cut of [1, 7, 8, 9, 500, 999]) {
    const parts = new Crc64();
    parts.update(data.subarray(0, cut));
    parts.update(data.subarray(cut));
    assert.equal(parts.digest().toString('hex'), whole.digest().toString('hex'), `cut at ${cut}`);
  }
});

test('crc64 ISO: inputs larger than the WebAssembly window', () => {
  const big = Buffer.alloc(600_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >> 9)) & 255;
  const whole = new Crc64();
  whole.update(big);
  const pieces = new Crc64();
  for (let at = 0; at < big.length; at += 70_001) pieces.update(big.subarray(at, at + 70_001));
  assert.equal(pieces.digest().toString('hex'), whole.digest().toString('hex'));
});
