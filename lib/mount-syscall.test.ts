import assert from 'node:assert/strict';
import { test } from 'node:test';
import { overlayMountCall, type MountCall, type MountRequest } from './mount-syscall';

const home = '/var/lib/containers/storage/overlay';
const base: MountRequest = {
  source: 'overlay',
  fstype: 'overlay',
  target: `${home}/c1/merged`,
  options: ['lowerdir=l/AAAA:l/BBBB', `upperdir=${home}/c1/diff`, `workdir=${home}/c1/work`],
  cwd: home,
};
const dirs = `lowerdir=${home}/l/AAAA:${home}/l/BBBB,upperdir=${home}/c1/diff,workdir=${home}/c1/work`;

const cases: { name: string; req: MountRequest; want: Omit<MountCall, 'source' | 'target' | 'fstype'> | undefined }[] = [
  { name: 'relative lowers become absolute under cwd', req: base, want: { flags: 0, data: dirs } },
  {
    name: 'absolute lowers (a read-only store) stay',
    req: { ...base, options: ['lowerdir=l/AAAA:/ro/overlay/l/CCCC', 'upperdir=/u', 'workdir=/w'] },
    want: { flags: 0, data: `lowerdir=${home}/l/AAAA:/ro/overlay/l/CCCC,upperdir=/u,workdir=/w` },
  },
  { name: 'nodev and nosuid are flags, not data', req: { ...base, options: [...base.options, 'nodev', 'nosuid'] }, want: { flags: 4 | 2, data: dirs } },
  { name: 'the last of ro/rw wins, as in mount(8)', req: { ...base, options: [...base.options, 'ro', 'rw', 'noexec'] }, want: { flags: 8, data: dirs } },
  { name: 'noatime and strictatime', req: { ...base, options: [...base.options, 'noatime', 'strictatime'] }, want: { flags: 1024 | (1 << 24), data: dirs } },
  {
    name: "overlay's own options stay data, in order",
    req: { ...base, options: [...base.options, 'metacopy=on', 'index=off', 'volatile', 'userxattr'] },
    want: { flags: 0, data: `${dirs},metacopy=on,index=off,volatile,userxattr` },
  },
  { name: 'a libmount option (x-*) is left to mount(8)', req: { ...base, options: [...base.options, 'x-systemd.automount'] }, want: undefined },
  { name: 'an SELinux context is left to mount(8) (libmount quotes it)', req: { ...base, options: [...base.options, 'context="system_u:object_r:container_file_t:s0"'] }, want: undefined },
  { name: 'an option overlay does not have is left to mount(8)', req: { ...base, options: [...base.options, 'size=10m'] }, want: undefined },
  { name: 'another filesystem is left to mount(8)', req: { ...base, fstype: 'tmpfs', source: 'tmpfs', options: ['size=10m'] }, want: undefined },
  { name: 'relative lowers without a cwd are left to mount(8)', req: { ...base, cwd: undefined }, want: undefined },
  { name: 'a relative target is left to mount(8)', req: { ...base, target: 'c1/merged' }, want: undefined },
  { name: 'an empty lower is left to mount(8)', req: { ...base, options: ['lowerdir=l/AAAA::l/BBBB', 'upperdir=/u', 'workdir=/w'] }, want: undefined },
  {
    name: 'lowers longer than a page as absolute paths are left to mount(8), which runs in cwd',
    req: { ...base, options: [`lowerdir=${Array.from({ length: 90 }, (_, i) => `l/${String(i).padStart(26, 'A')}`).join(':')}`, 'upperdir=/u', 'workdir=/w'] },
    want: undefined,
  },
];

for (const c of cases) {
  test(`overlayMountCall: ${c.name}`, () => {
    const got = overlayMountCall(c.req);
    assert.deepEqual(got, c.want === undefined ? undefined : { source: c.req.source, target: c.req.target, fstype: c.req.fstype, ...c.want });
  });
}
