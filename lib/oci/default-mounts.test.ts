import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { nullLogger } from '../log';
import { defaultMountInputs, loadDefaultMounts, parseMountsConf } from './default-mounts';

const parseCases: { name: string; text: string; mounts: [string, string][]; skipped: string[] }[] = [
  { name: 'src:dst', text: '/usr/share/rhel/secrets:/run/secrets\n', mounts: [['/usr/share/rhel/secrets', '/run/secrets']], skipped: [] },
  { name: 'src only means the same path', text: '/etc/pki/entitlement', mounts: [['/etc/pki/entitlement', '/etc/pki/entitlement']], skipped: [] },
  { name: 'blank lines, comments and spaces', text: '\n# subscription data\n  /a:/b  \n', mounts: [['/a', '/b']], skipped: [] },
  { name: 'relative lines are skipped', text: 'relative:/x\n/a:relative\n/c:/d/../e', mounts: [['/c', '/e']], skipped: ['relative:/x', '/a:relative'] },
];
for (const c of parseCases) {
  test(`mounts.conf: ${c.name}`, () => {
    const r = parseMountsConf(c.text);
    assert.deepEqual(r.mounts.map((m) => [m.hostPath, m.containerPath]), c.mounts);
    assert.deepEqual(r.skipped, c.skipped);
  });
}

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-mounts-test-'));
  await fs.mkdir(path.join(dir, 'secrets', 'sub'), { recursive: true });
  await fs.writeFile(path.join(dir, 'secrets', 'key.pem'), 'KEY', { mode: 0o600 });
  await fs.writeFile(path.join(dir, 'secrets', 'sub', 'ca.pem'), 'CA');
  await fs.symlink(path.join(dir, 'secrets', 'key.pem'), path.join(dir, 'secrets', 'link.pem'));
  await fs.writeFile(path.join(dir, 'b.conf'), `${dir}/secrets:/run/secrets\n`);
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('loadDefaultMounts takes the first file that exists', async () => {
  const got = await loadDefaultMounts([path.join(dir, 'a.conf'), path.join(dir, 'b.conf')], nullLogger());
  assert.equal(got.file, path.join(dir, 'b.conf'));
  assert.deepEqual(got.mounts, [{ hostPath: `${dir}/secrets`, containerPath: '/run/secrets' }]);
  assert.deepEqual(await loadDefaultMounts([path.join(dir, 'a.conf')], nullLogger()), { mounts: [] });
});

test('defaultMountInputs binds existing sources read-only and skips missing ones', async () => {
  const { inputs, warnings } = await defaultMountInputs(
    [
      { hostPath: `${dir}/secrets`, containerPath: '/run/secrets' },
      { hostPath: `${dir}/absent`, containerPath: '/run/absent' },
    ],
    undefined,
  );
  assert.deepEqual(inputs, [{ containerPath: '/run/secrets', hostPath: `${dir}/secrets`, readonly: true, propagation: 'private' }]);
  assert.deepEqual(warnings, []);
});

test('defaultMountInputs copies for a user namespace, owned by the pod root, modes kept, links followed', async () => {
  const copyDir = path.join(dir, 'bundle', 'default-mounts');
  const { inputs } = await defaultMountInputs([{ hostPath: `${dir}/secrets`, containerPath: '/run/secrets' }], { dir: copyDir, uid: 100000, gid: 100000 });
  const copy = path.join(copyDir, 'run', 'secrets');
  assert.deepEqual(inputs, [{ containerPath: '/run/secrets', hostPath: copy, readonly: true, propagation: 'private' }]);
  for (const f of ['', 'key.pem', 'link.pem', 'sub', 'sub/ca.pem']) {
    const st = await fs.lstat(path.join(copy, f));
    assert.equal(st.uid, 100000, f);
    assert.equal(st.gid, 100000, f);
    assert.ok(!st.isSymbolicLink(), f);
  }
  assert.equal((await fs.stat(path.join(copy, 'key.pem'))).mode & 0o777, 0o600);
  assert.equal(await fs.readFile(path.join(copy, 'link.pem'), 'utf8'), 'KEY');
});
