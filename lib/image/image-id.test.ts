import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idHex, imageNameForStatus, isFullImageId, resolveImageId } from './image-id';

const A = 'a1b2' + 'c'.repeat(60);
const B = 'a1f0' + 'd'.repeat(60);
const IDS = [A, B];

const cases: { name: string; input: string; want: string | undefined }[] = [
  { name: 'full ID', input: A, want: A },
  { name: 'sha256: full ID', input: `sha256:${A}`, want: A },
  { name: 'full ID of an absent image', input: 'e'.repeat(64), want: undefined },
  { name: 'unique prefix', input: 'a1b', want: A },
  { name: 'sha256: unique prefix', input: 'sha256:a1f0d', want: B },
  { name: 'prefix of two IDs', input: 'a1', want: undefined },
  { name: 'a name, not hex', input: 'busybox', want: undefined },
  { name: 'uppercase hex is a name', input: 'A1B2', want: undefined },
  { name: 'too long', input: `${A}0`, want: undefined },
  { name: 'empty', input: '', want: undefined },
];
for (const c of cases) test(`resolveImageId: ${c.name}`, () => assert.equal(resolveImageId(c.input, IDS), c.want));

test('resolveImageId: a prefix shorter than 3 is refused even when unique (c/storage)', () => {
  assert.equal(resolveImageId('a1', [A]), undefined);
  assert.equal(resolveImageId('a1b', [A]), A);
});

test('idHex and isFullImageId', () => {
  assert.equal(idHex(`sha256:${A}`), A);
  assert.equal(idHex('docker.io/library/busybox'), undefined);
  assert.equal(isFullImageId(A), true);
  assert.equal(isFullImageId(`sha256:${A}`), true);
  assert.equal(isFullImageId('a1b2'), false);
});

const image = { id: A, repoTags: ['127.0.0.1:5000/busybox:1.29-2', 'docker.io/library/busybox:latest'] };
const names: { name: string; candidates: string[]; image: { id: string; repoTags: string[] }; want: string }[] = [
  { name: 'user_specified_image first', candidates: ['busybox:1.29-2', A], image, want: 'busybox:1.29-2' },
  { name: 'created by name', candidates: ['', 'docker.io/library/busybox:latest'], image, want: 'docker.io/library/busybox:latest' },
  { name: 'created by ID (the kubelet): first tag', candidates: ['', A], image, want: '127.0.0.1:5000/busybox:1.29-2' },
  { name: 'sha256: ID and ID prefix: first tag', candidates: [`sha256:${A}`, 'a1b2c'], image, want: '127.0.0.1:5000/busybox:1.29-2' },
  { name: 'untagged image: its ID', candidates: ['', A], image: { id: A, repoTags: [] }, want: A },
];
for (const c of names) test(`imageNameForStatus: ${c.name}`, () => assert.equal(imageNameForStatus(c.candidates, c.image), c.want));
