import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { entryComponents, type ComponentsOptions } from './safe-tree';

const good: { name: string; input: string; options?: ComponentsOptions; want: string[] }[] = [
  { name: 'plain', input: 'usr/bin/env', want: ['usr', 'bin', 'env'] },
  { name: 'leading ./ and trailing slash', input: './usr/lib/', want: ['usr', 'lib'] },
  { name: 'doubled slashes and dots', input: 'a//./b/.', want: ['a', 'b'] },
  { name: 'inner .. that stays inside', input: 'a/b/../c', want: ['a', 'c'] },
  { name: 'layer root', input: './', want: [] },
  { name: 'absolute hardlink target is layer-relative', input: '/etc/passwd', options: { allowAbsolute: true }, want: ['etc', 'passwd'] },
  { name: 'whiteout names are plain components', input: 'a/.wh..wh..opq', want: ['a', '.wh..wh..opq'] },
];

for (const c of good) {
  test(`entryComponents: ${c.name}`, () => {
    assert.deepEqual(entryComponents(c.input, c.input, c.options), c.want);
  });
}

const bad: { name: string; input: string; message: RegExp }[] = [
  { name: 'absolute', input: '/etc/passwd', message: /layer entry "\/etc\/passwd": path "\/etc\/passwd" is absolute/ },
  { name: 'climbs out', input: '../x', message: /layer entry "\.\.\/x": path "\.\.\/x" escapes the layer/ },
  { name: 'climbs out after descending', input: 'a/../../x', message: /escapes the layer/ },
  { name: 'NUL byte', input: 'a\0b', message: /contains a NUL byte/ },
];

for (const c of bad) {
  test(`entryComponents refuses: ${c.name}`, () => {
    assert.throws(() => entryComponents(c.input), (err: unknown) => err instanceof InvalidArgumentError && c.message.test(err.message));
  });
}
