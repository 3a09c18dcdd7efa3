import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TerminalSize } from '../oci/conmon-attach';
import { ResizeDecoder } from './resize-decoder';

const cases: Array<{ name: string; chunks: string[]; sizes: TerminalSize[]; ok?: boolean }> = [
  { name: 'one object per write (WebSocket)', chunks: ['{"Width":80,"Height":24}'], sizes: [{ width: 80, height: 24 }] },
  { name: 'newline-terminated objects (SPDY encoder)', chunks: ['{"Width":80,"Height":24}\n{"Width":100,"Height":40}\n'], sizes: [{ width: 80, height: 24 }, { width: 100, height: 40 }] },
  { name: 'an object split across writes', chunks: ['{"Wid', 'th":120,"Hei', 'ght":50}'], sizes: [{ width: 120, height: 50 }] },
  { name: 'keys match case-insensitively', chunks: ['{"width":10,"height":5}'], sizes: [{ width: 10, height: 5 }] },
  { name: 'a missing field counts as 0', chunks: ['{"Width":10}'], sizes: [{ width: 10, height: 0 }] },
  { name: 'garbage stops decoding', chunks: ['oops {"Width":1,"Height":1}'], sizes: [], ok: false },
  { name: 'a negative size stops decoding', chunks: ['{"Width":-1,"Height":1}{"Width":2,"Height":2}'], sizes: [], ok: false },
];

for (const c of cases) {
  test(c.name, () => {
    const sizes: TerminalSize[] = [];
    const decoder = new ResizeDecoder((s) => sizes.push(s));
    let ok = true;
    for (const chunk of c.chunks) ok = decoder.write(chunk) && ok;
    assert.deepEqual(sizes, c.sizes);
    assert.equal(ok, c.ok ?? true);
  });
}
