import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { InternalError } from '../../lib/errors';
import { isMountRoot, mountSyscallAvailable } from '../../lib/mount-syscall';
import { runProgram } from '../../lib/process';
import { ensurePrivateMount, isMounted, mount, unmount, type MountSpec } from '../../lib/storage/mount';

/*
 * Overlay mounts and unmounts as system calls (lib/mount-syscall.ts) give the kernel what
 * mount(8) gives it: the same spec mounted both ways shows the same per-mount and per-superblock
 * options in mountinfo. Failures name the target and the errno and leave nothing mounted.
 */

const skip = process.getuid?.() !== 0 ? 'needs root (overlay mounts)' : !mountSyscallAvailable() ? 'the mount addon is not built' : false;
let tmp = '';

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-test-mount-'));
});

after(async () => {
  if (tmp === '') return;
  for (const t of [...['a', 'b', 'c'].map((n) => path.join(tmp, n, 'merged')), path.join(tmp, 'home')]) await runProgram('umount', ['-l', t]);
  await fs.rm(tmp, { recursive: true, force: true });
});

/** An overlay spec over lowers `l/one` and `l/two` under tmp, with its own upper/work/merged dirs. */
async function overlaySpec(name: string, extra: string[]): Promise<MountSpec> {
  for (const l of ['one', 'two']) {
    await fs.mkdir(path.join(tmp, 'l', l), { recursive: true });
    await fs.writeFile(path.join(tmp, 'l', l, `${l}.txt`), l);
  }
  const dir = path.join(tmp, name);
  for (const d of ['diff', 'work', 'merged']) await fs.mkdir(path.join(dir, d), { recursive: true });
  return {
    source: 'overlay',
    fstype: 'overlay',
    target: path.join(dir, 'merged'),
    options: ['lowerdir=l/one:l/two', `upperdir=${dir}/diff`, `workdir=${dir}/work`, ...extra],
    cwd: tmp,
  };
}

/** mountinfo's per-mount options, fstype, source and per-superblock options for `target`. */
async function mountinfoOf(target: string): Promise<{ mountOptions: string; fstype: string; source: string; superOptions: string }> {
  const lines = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  const line = lines.find((l) => l.split(' ')[4] === target);
  assert.ok(line, `${target} is in mountinfo`);
  const f = line.split(' ');
  const dash = f.indexOf('-');
  return { mountOptions: f[5], fstype: f[dash + 1], source: f[dash + 2], superOptions: f[dash + 3] };
}

test('an overlay mounted by system call looks in mountinfo as mount(8) makes it', { skip }, async () => {
  const extra = ['nodev', 'nosuid', 'index=off'];
  const ours = await overlaySpec('a', extra);
  const theirs = await overlaySpec('b', extra);
  await mount(ours);
  const byMount8 = await runProgram('mount', ['-i', '-t', 'overlay', 'overlay', '-o', theirs.options.join(','), theirs.target], { cwd: tmp });
  assert.equal(byMount8.exitCode, 0, byMount8.stderr.toString());
  const a = await mountinfoOf(ours.target);
  const b = await mountinfoOf(theirs.target);
  assert.equal(a.mountOptions, b.mountOptions);
  assert.equal(a.fstype, 'overlay');
  assert.equal(a.source, b.source);
  // The lowers are absolute in ours and relative in mount(8)'s: the same directories either way.
  assert.equal(a.superOptions.replace(/(upper|work)dir=[^,]*/g, ''), b.superOptions.replace(/(upper|work)dir=[^,]*/g, '').replace(/lowerdir=l\//, `lowerdir=${tmp}/l/`).replace(':l/', `:${tmp}/l/`));
  assert.match(a.mountOptions, /nodev/);
  assert.match(a.mountOptions, /nosuid/);
  assert.deepEqual((await fs.readdir(ours.target)).sort(), ['one.txt', 'two.txt']);

  await unmount(ours.target, { detach: true });
  await unmount(theirs.target);
  assert.equal(await isMounted(ours.target), false);
  assert.equal(await isMounted(theirs.target), false);
});

test('unmounting what is not mounted, or is gone, is fine', { skip }, async () => {
  const dir = path.join(tmp, 'plain');
  await fs.mkdir(dir, { recursive: true });
  await unmount(dir, { detach: true });
  await unmount(dir);
  await unmount(path.join(tmp, 'missing', 'merged'), { detach: true });
});

test('a failed overlay mount names the target and the errno, and leaves nothing mounted', { skip }, async () => {
  const spec = await overlaySpec('c', []);
  const bad = { ...spec, options: ['lowerdir=l/missing', ...spec.options.slice(1)] };
  await assert.rejects(mount(bad), (err: unknown) => {
    assert.ok(err instanceof InternalError);
    assert.match(err.message, new RegExp(`mount overlay on ${spec.target} failed: mount: .* \\(ENOENT\\)`));
    return true;
  });
  assert.equal(await isMounted(spec.target), false);
});

test('statx tells a mount root from a directory; ensurePrivateMount makes one, private, once', { skip }, async () => {
  const home = path.join(tmp, 'home');
  await fs.mkdir(home, { recursive: true });
  assert.equal(isMountRoot(home), false);
  assert.equal(isMountRoot(path.join(tmp, 'missing')), false);
  assert.equal(isMountRoot('/proc'), true);
  await ensurePrivateMount(home);
  assert.equal(isMountRoot(home), true);
  await ensurePrivateMount(home); // already one: nothing is stacked on it
  const entries = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.split(' ')[4] === home);
  assert.equal(entries.length, 1);
  // Private: no shared:/master: optional fields between the options and the '-'.
  const f = entries[0].split(' ');
  assert.deepEqual(f.slice(6, f.indexOf('-')), []);
  await unmount(home);
  assert.equal(isMountRoot(home), false);
});
