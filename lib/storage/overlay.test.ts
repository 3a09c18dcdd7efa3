import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError, ResourceExhaustedError } from '../errors';
import { MAX_OVERLAY_LOWERS, overlayMountSpec, type OverlayMountOptions } from './overlay';

const L1 = 'l/ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const L2 = 'l/234567ABCDEFGHIJKLMNOPQRST';

const base: OverlayMountOptions = {
  layerRoot: '/var/lib/crio/overlay',
  lowerLinks: [L1],
  upperDir: '/var/lib/crio/overlay-containers/c1/diff',
  workDir: '/var/lib/crio/overlay-containers/c1/work',
  target: '/var/lib/crio/overlay-containers/c1/merged',
};

const good: { name: string; input: OverlayMountOptions; options: string[] }[] = [
  {
    name: 'single lower',
    input: base,
    options: [`lowerdir=${L1}`, `upperdir=${base.upperDir}`, `workdir=${base.workDir}`],
  },
  {
    name: 'a lower of a read-only image store by absolute path',
    input: { ...base, lowerLinks: [L2, '/ro/overlay/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ'] },
    options: [`lowerdir=${L2}:/ro/overlay/l/ABCDEFGHIJKLMNOPQRSTUVWXYZ`, `upperdir=${base.upperDir}`, `workdir=${base.workDir}`],
  },
  {
    name: 'two lowers keep top-first order',
    input: { ...base, lowerLinks: [L2, L1] },
    options: [`lowerdir=${L2}:${L1}`, `upperdir=${base.upperDir}`, `workdir=${base.workDir}`],
  },
  {
    name: 'extra options appended after the dirs',
    input: { ...base, extraOptions: ['volatile', 'context="system_u:object_r:container_file_t:s0:c1,c2"'] },
    options: [
      `lowerdir=${L1}`,
      `upperdir=${base.upperDir}`,
      `workdir=${base.workDir}`,
      'volatile',
      'context="system_u:object_r:container_file_t:s0:c1,c2"',
    ],
  },
  {
    name: '128 lowers fit in one page',
    input: { ...base, lowerLinks: Array.from({ length: 128 }, () => L1) },
    options: [`lowerdir=${Array.from({ length: 128 }, () => L1).join(':')}`, `upperdir=${base.upperDir}`, `workdir=${base.workDir}`],
  },
];

for (const c of good) {
  test(`overlayMountSpec: ${c.name}`, () => {
    const spec = overlayMountSpec(c.input);
    assert.deepEqual(spec, { source: 'overlay', fstype: 'overlay', target: base.target, options: c.options, cwd: base.layerRoot });
  });
}

const bad: { name: string; input: OverlayMountOptions; error: new (...a: never[]) => Error; message: RegExp }[] = [
  { name: 'no lowers', input: { ...base, lowerLinks: [] }, error: InvalidArgumentError, message: /at least one lower/ },
  {
    name: 'more than 500 lowers',
    input: { ...base, lowerLinks: Array.from({ length: MAX_OVERLAY_LOWERS + 1 }, () => L1) },
    error: ResourceExhaustedError,
    message: /501 lower layers/,
  },
  {
    name: 'lowers that do not fit in a page',
    input: { ...base, lowerLinks: Array.from({ length: 200 }, () => L1) },
    error: ResourceExhaustedError,
    message: /mount\(2\) accepts/,
  },
  { name: 'absolute lower not in normal form', input: { ...base, lowerLinks: ['/ro/overlay/l/../../etc'] }, error: InvalidArgumentError, message: /invalid overlay lower link "\/ro\/overlay\/l\/..\/..\/etc"/ },
  { name: 'lower escaping', input: { ...base, lowerLinks: ['l/../x'] }, error: InvalidArgumentError, message: /invalid overlay lower link/ },
  { name: 'lower with colon', input: { ...base, lowerLinks: ['l/A:l/B'] }, error: InvalidArgumentError, message: /invalid overlay lower link/ },
  { name: 'relative upper', input: { ...base, upperDir: 'diff' }, error: InvalidArgumentError, message: /upperDir "diff" is not absolute/ },
  { name: 'comma in workdir', input: { ...base, workDir: '/a,b' }, error: InvalidArgumentError, message: /workDir "\/a,b" contains/ },
  { name: 'colon in target', input: { ...base, target: '/a:b' }, error: InvalidArgumentError, message: /target "\/a:b" contains/ },
  { name: 'empty extra option', input: { ...base, extraOptions: [''] }, error: InvalidArgumentError, message: /empty overlay mount option/ },
];

for (const c of bad) {
  test(`overlayMountSpec refuses: ${c.name}`, () => {
    assert.throws(() => overlayMountSpec(c.input), (err: unknown) => err instanceof c.error && c.message.test(err.message));
  });
}
