/**
 * HPACK's Huffman code (RFC 7541 Appendix B) for decoding: the code is canonical, so the bit
 * length of each of the 257 symbols (256 octets and EOS) is all it takes to rebuild it.
 */

// prettier-ignore
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
const MAX_LENGTH = 30;

/** Canonical decoding tables: per length, the first code, how many codes, and where its symbols start in SYMBOLS. */
const FIRST_CODE = new Int32Array(MAX_LENGTH + 2);
const COUNT = new Int32Array(MAX_LENGTH + 2);
const OFFSET = new Int32Array(MAX_LENGTH + 2);
const SYMBOLS = new Uint16Array(CODE_LENGTHS.length);

(() => {
  for (const len of CODE_LENGTHS) COUNT[len] = (COUNT[len] ?? 0) + 1;
  let code = 0;
  let offset = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    code = (code + (COUNT[len - 1] ?? 0)) << 1;
    FIRST_CODE[len] = code;
    OFFSET[len] = offset;
    offset += COUNT[len] ?? 0;
  }
  FIRST_CODE[1] = 0;
  const next = Int32Array.from(OFFSET);
  const order = CODE_LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  for (const { len, sym } of order) SYMBOLS[next[len]++] = sym;
})();

/** Decodes a Huffman-coded HPACK string; throws on EOS inside the string or bad padding (a decoding error, RFC 7541 §5.2). */
export function huffmanDecode(src: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(Math.floor((src.length * 8) / 5) + 1);
  let n = 0;
  let code = 0;
  let len = 0;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i] ?? 0;
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      const index = code - (FIRST_CODE[len] ?? 0);
      if (index >= 0 && index < (COUNT[len] ?? 0)) {
        const sym = SYMBOLS[(OFFSET[len] ?? 0) + index] ?? EOS;
        if (sym === EOS) throw new Error('HPACK: EOS symbol inside a Huffman string');
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len >= MAX_LENGTH) {
        throw new Error('HPACK: invalid Huffman code');
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
  if (len > 7 || code !== (1 << len) - 1) throw new Error('HPACK: invalid Huffman padding');
  return out.subarray(0, n);
}
