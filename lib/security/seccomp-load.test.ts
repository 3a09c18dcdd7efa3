import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import type { SeccompSource } from './seccomp';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';
import { type LoadedSeccomp, loadSeccompProfile } from './seccomp-load';

let dir: string;
const file = (name: string): string => path.join(dir, name);
const GOOD = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'seccomp-load-'));
  await fs.writeFile(file('good.json'), JSON.stringify(GOOD));
  await fs.writeFile(file('broken.json'), '{"defaultAction": ');
  await fs.writeFile(file('bad-action.json'), JSON.stringify({ defaultAction: 'NOPE' }));
  await fs.mkdir(file('a-dir'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

const ok: { name: string; source: () => SeccompSource; check: (r: LoadedSeccomp) => void }[] = [
  { name: 'unconfined loads nothing', source: () => ({ kind: 'unconfined' }), check: (r) => assert.deepEqual(r, { warnings: [] }) },
  { name: 'builtin is the default profile', source: () => ({ kind: 'builtin' }), check: (r) => assert.equal(r.profile, DEFAULT_SECCOMP_PROFILE) },
  { name: 'localhost file is parsed', source: () => ({ kind: 'localhost', path: file('good.json') }), check: (r) => assert.deepEqual(r.profile, GOOD) },
  { name: 'config file is parsed', source: () => ({ kind: 'config', path: file('good.json'), key: 'k', fallbackToBuiltin: true }), check: (r) => assert.deepEqual(r.profile, GOOD) },
  {
    name: 'missing global config file falls back to the built-in profile with a warning',
    source: () => ({ kind: 'config', path: file('gone.json'), key: 'crio.runtime.seccomp_profile', fallbackToBuiltin: true }),
    check: (r) => {
      assert.equal(r.profile, DEFAULT_SECCOMP_PROFILE);
      assert.match(r.warnings.join(), /gone\.json.*built-in/);
    },
  },
];
for (const c of ok) test(`loadSeccompProfile: ${c.name}`, async () => c.check(await loadSeccompProfile(c.source())));

const bad: { name: string; source: () => SeccompSource; error: new (m: string) => Error; message: RegExp }[] = [
  { name: 'missing localhost file', source: () => ({ kind: 'localhost', path: file('gone.json') }), error: NotFoundError, message: /unable to load local profile ".*gone\.json"/ },
  { name: 'localhost directory', source: () => ({ kind: 'localhost', path: file('a-dir') }), error: NotFoundError, message: /not a regular file/ },
  { name: 'broken localhost JSON', source: () => ({ kind: 'localhost', path: file('broken.json') }), error: InvalidArgumentError, message: /broken\.json: decoding failed/ },
  { name: 'localhost with an unknown action', source: () => ({ kind: 'localhost', path: file('bad-action.json') }), error: InvalidArgumentError, message: /defaultAction/ },
  {
    name: 'missing handler file (no fallback) names the key',
    source: () => ({ kind: 'config', path: file('gone.json'), key: 'crio.runtime.runtimes.runc.seccomp_profile', fallbackToBuiltin: false }),
    error: FailedPreconditionError,
    message: /crio\.runtime\.runtimes\.runc\.seccomp_profile: unable to load seccomp profile/,
  },
  { name: 'broken config file names the key', source: () => ({ kind: 'config', path: file('broken.json'), key: 'crio.runtime.seccomp_profile', fallbackToBuiltin: true }), error: FailedPreconditionError, message: /crio\.runtime\.seccomp_profile: .*decoding failed/ },
];
for (const c of bad) {
  test(`loadSeccompProfile rejects ${c.name}`, async () => {
    await assert.rejects(loadSeccompProfile(c.source()), (e: unknown) => e instanceof c.error && c.message.test(e.message));
  });
}
