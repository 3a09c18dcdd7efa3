import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { resolvePullSources, resolveShortName, type PullSource } from './pull-sources';
import { formatReference, parseReference } from './reference';
import { parseRegistriesConf, emptyRegistriesConf, type RegistriesConf, type ShortNameMode } from './registries-conf';

const D = 'sha256:' + 'b'.repeat(64);

function conf(toml: string): RegistriesConf {
  const frag = parseRegistriesConf(toml, 't.conf');
  return {
    ...emptyRegistriesConf(),
    registries: frag.registries,
    aliases: frag.aliases,
    unqualifiedSearchRegistries: frag.unqualifiedSearchRegistries ?? [],
    shortNameMode: frag.shortNameMode ?? 'enforcing',
    files: ['t.conf'],
  };
}

const REGS = `
[[registry]]
prefix = "example.test/library"
location = "127.0.0.1:5000/library"
insecure = true

[[registry]]
prefix = "example.test"
location = "other.test"

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.test:5000"
insecure = true
[[registry.mirror]]
location = "digests.test"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "*.corp.test"
[[registry.mirror]]
location = "cache.corp.test/proxy"

[[registry]]
location = "blocked.test"
blocked = true

[[registry]]
prefix = "quay.io/app:v1"
location = "pinned.test/app"
`;

function src(host: string, insecure: boolean, repository: string, reference: string, mirror = false): PullSource {
  return { endpoint: { host, insecure }, repository, reference, mirror };
}

const sourceCases: { name: string; ref: string; want: PullSource[] }[] = [
  { name: 'no matching registry', ref: 'quay.io/a/b:1', want: [src('quay.io', false, 'a/b', '1')] },
  { name: 'longest prefix wins', ref: 'example.test/library/busybox', want: [src('127.0.0.1:5000', true, 'library/busybox', 'latest')] },
  { name: 'shorter prefix', ref: 'example.test/foo/bar:2', want: [src('other.test', false, 'foo/bar', '2')] },
  { name: 'prefix must end at a boundary', ref: 'example.testing/x', want: [src('example.testing', false, 'x', 'latest')] },
  {
    name: 'mirrors first, digest-only mirror skipped for tags',
    ref: 'busybox',
    want: [src('mirror.test:5000', true, 'library/busybox', 'latest', true), src('docker.io', false, 'library/busybox', 'latest')],
  },
  {
    name: 'digest reference uses digest-only mirror',
    ref: `busybox:1@${D}`,
    want: [
      src('mirror.test:5000', true, 'library/busybox', D, true),
      src('digests.test', false, 'library/busybox', D, true),
      src('docker.io', false, 'library/busybox', D),
    ],
  },
  {
    name: 'wildcard prefix keeps host, mirror rewritten',
    ref: 'registry.corp.test/team/app:3',
    want: [src('cache.corp.test', false, 'proxy/team/app', '3', true), src('registry.corp.test', false, 'team/app', '3')],
  },
  { name: 'tag-level prefix', ref: 'quay.io/app:v1', want: [src('pinned.test', false, 'app', 'v1')] },
  { name: 'tag-level prefix, other tag', ref: 'quay.io/app:v2', want: [src('quay.io', false, 'app', 'v2')] },
];

for (const c of sourceCases) {
  test(`resolvePullSources: ${c.name}`, () => {
    assert.deepEqual(resolvePullSources(conf(REGS), parseReference(c.ref)), c.want);
  });
}

test('resolvePullSources: blocked registry', () => {
  assert.throws(
    () => resolvePullSources(conf(REGS), parseReference('blocked.test/x')),
    (err: unknown) => err instanceof FailedPreconditionError && err.message.includes('blocked.test') && err.message.includes('blocked'),
  );
});

const shortCases: { name: string; toml: string; input: string; mode?: ShortNameMode; want?: string[]; error?: RegExp }[] = [
  { name: 'qualified name passes through', toml: '', input: 'quay.io/x/y:1', want: ['quay.io/x/y:1'] },
  { name: 'single search registry', toml: 'unqualified-search-registries = ["docker.io"]', input: 'busybox', want: ['docker.io/library/busybox:latest'] },
  {
    name: 'enforcing with two candidates is ambiguous',
    toml: 'unqualified-search-registries = ["quay.io", "docker.io"]',
    input: 'busybox:1',
    error: /short name mode is enforcing, but image name busybox:1 returns ambiguous list: \[quay\.io\/busybox:1 docker\.io\/library\/busybox:1\]/,
  },
  {
    name: 'disabled tries each',
    toml: 'unqualified-search-registries = ["quay.io", "docker.io"]',
    input: `foo/bar@${D}`,
    mode: 'disabled',
    want: [`quay.io/foo/bar@${D}`, `docker.io/foo/bar@${D}`],
  },
  {
    name: 'alias wins and keeps the tag',
    toml: 'unqualified-search-registries = ["quay.io", "docker.io"]\n[aliases]\n"pause" = "registry.k8s.io/pause"',
    input: 'pause:3.9',
    want: ['registry.k8s.io/pause:3.9'],
  },
  { name: 'no search registries falls back to docker.io', toml: '', input: 'foo/bar:1', want: ['docker.io/foo/bar:1'] },
  { name: 'malformed name', toml: 'unqualified-search-registries = ["docker.io"]', input: 'Busybox', error: /invalid image reference "Busybox"/ },
];

for (const c of shortCases) {
  test(`resolveShortName: ${c.name}`, () => {
    const run = (): string[] => resolveShortName(conf(c.toml), c.input, c.mode).map(formatReference);
    if (c.error) {
      const re = c.error;
      assert.throws(run, (err: unknown) => err instanceof InvalidArgumentError && re.test(err.message));
    } else {
      assert.deepEqual(run(), c.want);
    }
  });
}
