import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';
import { familiarName, formatReference, isImageId, isShortName, parseReference } from './reference';

const D = 'sha256:' + 'a'.repeat(64);

const good: { name: string; input: string; want: string; familiar: string; short: boolean }[] = [
  { name: 'official short name', input: 'busybox', want: 'docker.io/library/busybox:latest', familiar: 'busybox', short: true },
  { name: 'user repo', input: 'foo/bar', want: 'docker.io/foo/bar:latest', familiar: 'foo/bar', short: true },
  { name: 'tagged short', input: 'busybox:1.36', want: 'docker.io/library/busybox:1.36', familiar: 'busybox', short: true },
  { name: 'docker.io without library', input: 'docker.io/busybox', want: 'docker.io/library/busybox:latest', familiar: 'busybox', short: false },
  { name: 'index.docker.io', input: 'index.docker.io/foo/bar:x', want: 'docker.io/foo/bar:x', familiar: 'foo/bar', short: false },
  { name: 'host with port', input: '127.0.0.1:5000/x:1', want: '127.0.0.1:5000/x:1', familiar: '127.0.0.1:5000/x', short: false },
  { name: 'localhost', input: 'localhost/x', want: 'localhost/x:latest', familiar: 'localhost/x', short: false },
  { name: 'deep path', input: 'quay.io/a/b/c-d__e.f:v1.2-3', want: 'quay.io/a/b/c-d__e.f:v1.2-3', familiar: 'quay.io/a/b/c-d__e.f', short: false },
  { name: 'digest only', input: `busybox@${D}`, want: `docker.io/library/busybox@${D}`, familiar: 'busybox', short: true },
  { name: 'tag and digest', input: `quay.io/x/y:1@${D}`, want: `quay.io/x/y:1@${D}`, familiar: 'quay.io/x/y', short: false },
  { name: 'host:port and digest', input: `localhost:5000/y@${D}`, want: `localhost:5000/y@${D}`, familiar: 'localhost:5000/y', short: false },
];

for (const c of good) {
  test(`parseReference: ${c.name}`, () => {
    const ref = parseReference(c.input);
    assert.equal(formatReference(ref), c.want);
    assert.equal(familiarName(ref), c.familiar);
    assert.equal(isShortName(c.input), c.short);
  });
}

const bad: { name: string; input: string; message: RegExp }[] = [
  { name: 'empty', input: '', message: /empty reference/ },
  { name: 'uppercase repo', input: 'docker.io/Foo/bar', message: /must be lowercase/ },
  { name: 'bad tag', input: 'busybox:-x', message: /invalid tag "-x"/ },
  { name: 'tag too long', input: 'busybox:' + 'a'.repeat(129), message: /invalid tag/ },
  { name: 'short digest', input: 'busybox@sha256:abc', message: /invalid digest/ },
  { name: 'unsupported algorithm', input: 'busybox@sha512:' + 'a'.repeat(128), message: /unsupported digest/ },
  { name: 'uppercase digest hex', input: 'busybox@sha256:' + 'A'.repeat(64), message: /unsupported digest/ },
  { name: 'bad path component', input: 'quay.io/a//b', message: /invalid repository path component ""/ },
  { name: 'trailing separator', input: 'foo_/bar', message: /invalid repository path component "foo_"/ },
  { name: 'whitespace', input: ' busybox', message: /whitespace/ },
  { name: '64-hex name', input: 'a'.repeat(64), message: /64-byte hexadecimal/ },
  { name: 'bad host', input: 'exa_mple.com/x', message: /invalid registry host|invalid repository path/ },
  { name: 'too long', input: 'quay.io/' + 'a'.repeat(260), message: /longer than 255/ },
];

for (const c of bad) {
  test(`parseReference rejects: ${c.name}`, () => {
    assert.throws(
      () => parseReference(c.input),
      (err: unknown) => err instanceof InvalidArgumentError && c.message.test(err.message) && err.message.includes(quote(c.input)),
    );
  });
}

const ids: { input: string; want: boolean }[] = [
  { input: 'a'.repeat(64), want: true },
  { input: 'sha256:' + '0'.repeat(64), want: true },
  { input: 'a'.repeat(63), want: false },
  { input: 'A'.repeat(64), want: false },
  { input: 'busybox', want: false },
];

for (const c of ids) {
  test(`isImageId(${c.input.slice(0, 12)}…${c.input.length})`, () => {
    assert.equal(isImageId(c.input), c.want);
  });
}
