import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FailedPreconditionError, UnavailableError } from '../errors';
import { type AppArmorHostOptions, ensureAppArmorProfile, isAppArmorProfileLoaded, setupAppArmorAtStart } from './apparmor-host';

// A fake apparmor_parser: prints a version, and for -Kr stores stdin where the test can read it.
let dir: string;
let options: AppArmorHostOptions;
const loadedText = (): Promise<string> => fs.readFile(path.join(dir, 'loaded.txt'), 'utf8');

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'apparmor-host-'));
  const parser = path.join(dir, 'apparmor_parser');
  await fs.writeFile(
    parser,
    `#!/bin/sh\ncase "$1" in\n--version) echo "AppArmor parser version 3.0.8";;\n-Kr) cat > "${dir}/loaded.txt";;\n*) exit 2;;\nesac\n`,
    { mode: 0o755 },
  );
  await fs.writeFile(path.join(dir, 'profiles'), 'docker-default (enforce)\nmine (complain)\n');
  await fs.mkdir(path.join(dir, 'include', 'tunables'), { recursive: true });
  await fs.writeFile(path.join(dir, 'include', 'tunables', 'global'), '');
  options = { parser, profilesFile: path.join(dir, 'profiles'), includeDir: path.join(dir, 'include') };
});
after(() => fs.rm(dir, { recursive: true, force: true }));

const loaded: [string, boolean][] = [['mine', true], ['docker-default', true], ['min', false], ['crio-default', false]];
for (const [name, want] of loaded) {
  test(`isAppArmorProfileLoaded(${name}) = ${want}`, async () => assert.equal(await isAppArmorProfileLoaded(name, options.profilesFile), want));
}

test('isAppArmorProfileLoaded: no profiles file means nothing is loaded', async () => {
  assert.equal(await isAppArmorProfileLoaded('mine', path.join(dir, 'absent')), false);
});

test('ensureAppArmorProfile: a loaded profile and unconfined need nothing', async () => {
  await ensureAppArmorProfile('mine', 'crio-default', options);
  await ensureAppArmorProfile('unconfined', 'crio-default', options);
  await assert.rejects(loadedText());
});

test('ensureAppArmorProfile: a custom profile that is not loaded is refused, naming it', async () => {
  await assert.rejects(ensureAppArmorProfile('other', 'crio-default', options), (e: unknown) => e instanceof FailedPreconditionError && /"other" is not loaded/.test(e.message));
});

test('ensureAppArmorProfile: the missing default profile is rendered for this host and loaded with -Kr', async () => {
  await ensureAppArmorProfile('crio-default', 'crio-default', options);
  const text = await loadedText();
  assert.match(text, /^#include <tunables\/global>$/m);
  assert.doesNotMatch(text, /abstractions\/base/);
  assert.match(text, /^profile crio-default flags=/m);
  assert.match(text, /signal \(send,receive\) peer=crio-default,/);
});

test('setupAppArmorAtStart: unconfined, loaded custom, missing custom', async () => {
  await setupAppArmorAtStart('unconfined', options);
  await setupAppArmorAtStart('mine', options);
  await assert.rejects(setupAppArmorAtStart('nope', options), (e: unknown) => e instanceof FailedPreconditionError && /apparmor_profile.*"nope"/.test(e.message));
});

test('a parser that cannot run is UNAVAILABLE with a hint', async () => {
  await assert.rejects(setupAppArmorAtStart('crio-default', { ...options, parser: path.join(dir, 'missing-parser') }), (e: unknown) => e instanceof UnavailableError && /apparmor package/.test(e.message));
});
