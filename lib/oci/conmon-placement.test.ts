import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { conmonPlacement, type ConmonPlacementOptions } from './conmon-placement';

const dir = mkdtempSync(path.join(tmpdir(), 'crio-ts-conmon-placement-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A bundle whose config.json has `cgroupsPath`. */
function bundle(name: string, cgroupsPath: string): string {
  const b = path.join(dir, name);
  rmSync(b, { recursive: true, force: true });
  mkdirSync(b);
  writeFileSync(path.join(b, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { cgroupsPath } }));
  return b;
}

const base: ConmonPlacementOptions = { cgroupManager: 'cgroupfs', containerId: 'c1', bundleDir: '/nonexistent', signal: new AbortController().signal };

// Only the decision is checked: the returned hooks move real processes (cgroupfs) or call systemd.
const cases: { name: string; options: () => Partial<ConmonPlacementOptions>; hook?: boolean; error?: RegExp }[] = [
  { name: 'cgroupfs without a conmon cgroup: conmon stays', options: () => ({}), hook: false },
  { name: 'cgroupfs with a conmon cgroup: moved there', options: () => ({ conmonCgroup: '/crio/conmon' }), hook: true },
  { name: 'cgroupfs ignores monitorCgroup', options: () => ({ monitorCgroup: 'pod' }), hook: false },
  { name: 'systemd default slice, spec not read', options: () => ({ cgroupManager: 'systemd' }), hook: true },
  { name: 'systemd configured slice', options: () => ({ cgroupManager: 'systemd', monitorCgroup: 'conmon.slice' }), hook: true },
  {
    name: 'systemd "pod" reads the slice from the spec',
    options: () => ({ cgroupManager: 'systemd', monitorCgroup: 'pod', bundleDir: bundle('good', 'kubepods-pod1.slice:crio:c1') }),
    hook: true,
  },
  {
    name: 'systemd "pod" with a cgroupfs spec path',
    options: () => ({ cgroupManager: 'systemd', monitorCgroup: 'pod', bundleDir: bundle('fs', '/kubepods/pod1/crio-c1') }),
    error: /"\/kubepods\/pod1\/crio-c1" is not of the systemd form/,
  },
  { name: 'systemd bad configured slice', options: () => ({ cgroupManager: 'systemd', monitorCgroup: 'a--b.slice' }), error: /conmon cgroup "a--b\.slice" is not a valid systemd slice/ },
];
for (const c of cases) {
  test(`conmonPlacement: ${c.name}`, async () => {
    const p = conmonPlacement({ ...base, ...c.options() });
    if (c.error) {
      await assert.rejects(p, (err: unknown) => err instanceof InvalidArgumentError && (c.error as RegExp).test(err.message));
      return;
    }
    assert.equal(typeof (await p), c.hook ? 'function' : 'undefined');
  });
}

test('conmonPlacement: systemd "pod" without a bundle fails', async () => {
  await assert.rejects(conmonPlacement({ ...base, cgroupManager: 'systemd', monitorCgroup: 'pod' }), /ENOENT/);
});
