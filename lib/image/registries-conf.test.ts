import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { loadRegistriesConf, parseRegistriesConf, type ConfFragment } from './registries-conf';

const parseCases: { name: string; toml: string; want: Partial<ConfFragment> }[] = [
  {
    name: 'search registries and mode',
    toml: 'unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "disabled"\n',
    want: { unqualifiedSearchRegistries: ['quay.io', 'docker.io'], shortNameMode: 'disabled', registries: [] },
  },
  {
    name: 'registry with mirrors; prefix defaults to location; trailing slash dropped',
    toml: `
[[registry]]
location = "example.com/foo/"
insecure = true
[[registry.mirror]]
location = "mirror.local:5000/foo"
insecure = true
[[registry.mirror]]
location = "m2.local"
pull-from-mirror = "digest-only"
`,
    want: {
      registries: [
        {
          prefix: 'example.com/foo',
          location: 'example.com/foo',
          insecure: true,
          blocked: false,
          mirrorByDigestOnly: false,
          mirrors: [
            { location: 'mirror.local:5000/foo', insecure: true, pullFromMirror: 'all' },
            { location: 'm2.local', insecure: false, pullFromMirror: 'digest-only' },
          ],
        },
      ],
    },
  },
  {
    name: 'wildcard prefix, blocked',
    toml: '[[registry]]\nprefix = "*.evil.test"\nblocked = true\n',
    want: { registries: [{ prefix: '*.evil.test', location: '', insecure: false, blocked: true, mirrorByDigestOnly: false, mirrors: [] }] },
  },
  {
    name: 'aliases',
    toml: '[aliases]\n"pause" = "registry.k8s.io/pause"\n',
    want: { aliases: { pause: 'registry.k8s.io/pause' } },
  },
  {
    name: 'v1 format',
    toml: '[registries.search]\nregistries = ["docker.io"]\n[registries.insecure]\nregistries = ["127.0.0.1:5000"]\n[registries.block]\nregistries = ["bad.test"]\n',
    want: {
      unqualifiedSearchRegistries: ['docker.io'],
      registries: [
        { prefix: '127.0.0.1:5000', location: '127.0.0.1:5000', insecure: true, blocked: false, mirrorByDigestOnly: false, mirrors: [] },
        { prefix: 'bad.test', location: 'bad.test', insecure: false, blocked: true, mirrorByDigestOnly: false, mirrors: [] },
      ],
    },
  },
];

for (const c of parseCases) {
  test(`parseRegistriesConf: ${c.name}`, () => {
    const got = parseRegistriesConf(c.toml, 'x.conf');
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k as keyof ConfFragment], v, k);
  });
}

const badCases: { name: string; toml: string; message: RegExp }[] = [
  { name: 'syntax error', toml: 'unqualified-search-registries = [', message: /^parsing x\.conf/ },
  { name: 'wrong type', toml: 'unqualified-search-registries = "docker.io"', message: /unqualified-search-registries: want an array of strings/ },
  { name: 'bad mode', toml: 'short-name-mode = "loose"', message: /short-name-mode = "loose" is not one of/ },
  { name: 'no location no prefix', toml: '[[registry]]\ninsecure = true', message: /registry\[0\]\.: both location and prefix are unset/ },
  { name: 'scheme', toml: '[[registry]]\nlocation = "http://x.test"', message: /URI schemes are not supported/ },
  { name: 'duplicate prefix', toml: '[[registry]]\nlocation = "a.test"\n[[registry]]\nlocation = "a.test"', message: /"a\.test" is defined multiple times/ },
  {
    name: 'pull-from-mirror with digest-only',
    toml: '[[registry]]\nlocation = "a.test"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.test"\npull-from-mirror = "tag-only"',
    message: /registry\[0\]\.mirror\[0\]\.pull-from-mirror: cannot be combined/,
  },
];

for (const c of badCases) {
  test(`parseRegistriesConf rejects: ${c.name}`, () => {
    assert.throws(
      () => parseRegistriesConf(c.toml, 'x.conf'),
      (err: unknown) => err instanceof InvalidArgumentError && c.message.test(err.message) && err.message.includes('x.conf'),
    );
  });
}

let dir = '';
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'regconf-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('loadRegistriesConf merges drop-ins in name order', async () => {
  const file = path.join(dir, 'registries.conf');
  await fs.writeFile(file, 'unqualified-search-registries = ["docker.io"]\n[[registry]]\nlocation = "a.test"\ninsecure = true\n[aliases]\n"x" = "a.test/x"\n');
  await fs.mkdir(path.join(dir, 'registries.conf.d'));
  await fs.writeFile(path.join(dir, 'registries.conf.d', '20-b.conf'), 'unqualified-search-registries = ["quay.io"]\n');
  await fs.writeFile(path.join(dir, 'registries.conf.d', '10-a.conf'), '[[registry]]\nlocation = "a.test"\nblocked = true\n[aliases]\n"x" = ""\n');
  await fs.writeFile(path.join(dir, 'registries.conf.d', 'ignored.txt'), 'not toml [');
  const conf = await loadRegistriesConf(file);
  assert.deepEqual(conf.unqualifiedSearchRegistries, ['quay.io']);
  assert.equal(conf.shortNameMode, 'enforcing');
  assert.equal(conf.registries.length, 1);
  assert.equal(conf.registries[0]?.blocked, true);
  assert.equal(conf.registries[0]?.insecure, false, 'the drop-in table replaces the whole registry entry');
  assert.deepEqual(conf.aliases, {});
  assert.deepEqual(conf.files.map((f) => path.basename(f)), ['registries.conf', '10-a.conf', '20-b.conf']);
});

test('loadRegistriesConf: an explicit missing file is an error', async () => {
  await assert.rejects(loadRegistriesConf(path.join(dir, 'nope.conf')), (err: unknown) => err instanceof FailedPreconditionError && err.message.includes('nope.conf'));
});
