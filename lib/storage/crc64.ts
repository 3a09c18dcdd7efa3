/**
 * CRC-64 with the ISO polynomial as Go's hash/crc64 computes it (crc64.MakeTable(crc64.ISO),
 * initial and final inversion): the checksum tar-split records for every file of a layer and
 * checks when podman reassembles the layer tar. No npm package computes this variant fast
 * enough for whole layers (js-crc's CRC-64/GO-ISO ran at ~55 MB/s here), so this is slicing-by-8
 * over two 32-bit halves (~300 MB/s on this machine; sha256 of the same bytes runs at ~1.4 GB/s).
 */

const POLY_HI = 0xd8000000; // reversed ISO polynomial 0xD800000000000000, high half
const LO: Uint32Array[] = [];
const HI: Uint32Array[] = [];

function buildTables(): void {
  for (let k = 0; k < 8; k++) {
    LO.push(new Uint32Array(256));
    HI.push(new Uint32Array(256));
  }
  const lo0 = LO[0] as Uint32Array;
  const hi0 = HI[0] as Uint32Array;
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let j = 0; j < 8; j++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) hi = (hi ^ POLY_HI) >>> 0;
    }
    lo0[i] = lo;
    hi0[i] = hi;
  }
  for (let i = 0; i < 256; i++) {
    let lo = lo0[i] as number;
    let hi = hi0[i] as number;
    for (let k = 1; k < 8; k++) {
      const idx = lo & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ (lo0[idx] as number)) >>> 0;
      hi = ((hi >>> 8) ^ (hi0[idx] as number)) >>> 0;
      (LO[k] as Uint32Array)[i] = lo;
      (HI[k] as Uint32Array)[i] = hi;
    }
  }
}
buildTables();

/** A running CRC-64/GO-ISO. */
export class Crc64 {
  // The register, kept inverted as Go does between updates.
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(buf: Uint8Array): void {
    const [l0, l1, l2, l3, l4, l5, l6, l7] = LO as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
    const [h0, h1, h2, h3, h4, h5, h6, h7] = HI as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
    let lo = this.lo;
    let hi = this.hi;
    const n = buf.length;
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const a = (lo ^ ((buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24))) >>> 0;
      const b = (hi ^ ((buf[i + 4] as number) | ((buf[i + 5] as number) << 8) | ((buf[i + 6] as number) << 16) | ((buf[i + 7] as number) << 24))) >>> 0;
      lo =
        ((l7[a & 255] as number) ^ (l6[(a >>> 8) & 255] as number) ^ (l5[(a >>> 16) & 255] as number) ^ (l4[a >>> 24] as number) ^
          (l3[b & 255] as number) ^ (l2[(b >>> 8) & 255] as number) ^ (l1[(b >>> 16) & 255] as number) ^ (l0[b >>> 24] as number)) >>> 0;
      hi =
        ((h7[a & 255] as number) ^ (h6[(a >>> 8) & 255] as number) ^ (h5[(a >>> 16) & 255] as number) ^ (h4[a >>> 24] as number) ^
          (h3[b & 255] as number) ^ (h2[(b >>> 8) & 255] as number) ^ (h1[(b >>> 16) & 255] as number) ^ (h0[b >>> 24] as number)) >>> 0;
    }
    for (; i < n; i++) {
      const idx = (lo ^ (buf[i] as number)) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ (l0[idx] as number)) >>> 0;
      hi = ((hi >>> 8) ^ (h0[idx] as number)) >>> 0;
    }
    this.lo = lo;
    this.hi = hi;
  }

  /** The sum as Go's Sum(nil) returns it: 8 bytes, big-endian. */
  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE(~this.hi >>> 0, 0);
    out.writeUInt32BE(~this.lo >>> 0, 4);
    return out;
  }
}
