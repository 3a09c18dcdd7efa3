import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStorageOptions } from './storage-options';

const cases: { name: string; options: string[]; want?: { mountOptions: string[]; additionalImageStores: string[]; skipMountHome: boolean; volatileRecords: boolean; ignored: string[] }; error?: RegExp }[] = [
  { name: 'none', options: [], want: { mountOptions: [], additionalImageStores: [], skipMountHome: false, volatileRecords: false, ignored: [] } },
  { name: 'skip_mount_home', options: ['overlay.skip_mount_home=true'], want: { mountOptions: [], additionalImageStores: [], skipMountHome: true, volatileRecords: false, ignored: [] } },
  {
    name: 'mount options, image stores, ignored quota options, other drivers skipped',
    options: ['overlay.mountopt=nodev,metacopy=on', 'overlay.imagestore=/ro1', '.imagestore=/ro2', 'overlay.size=10G', 'vfs.ignore_chown_errors=true'],
    want: { mountOptions: ['nodev', 'metacopy=on'], additionalImageStores: ['/ro1', '/ro2'], skipMountHome: false, volatileRecords: false, ignored: ['overlay.size=10G'] },
  },
  { name: 'volatile records', options: ['crio-ts.volatile_records=true'], want: { mountOptions: [], additionalImageStores: [], skipMountHome: false, volatileRecords: true, ignored: [] } },
  { name: 'volatile records off again (a later drop-in wins)', options: ['crio-ts.volatile_records=true', 'crio-ts.volatile_records=false'], want: { mountOptions: [], additionalImageStores: [], skipMountHome: false, volatileRecords: false, ignored: [] } },
  { name: 'volatile records: not a boolean', options: ['crio-ts.volatile_records=yes'], error: /crio-ts knows only volatile_records=true\|false/ },
  { name: 'unknown crio-ts key', options: ['crio-ts.fsync=false'], error: /crio-ts knows only volatile_records/ },
  { name: 'mount_program refused', options: ['overlay.mount_program=/usr/bin/fuse-overlayfs'], error: /mount_program.*not supported: crio-ts mounts with the kernel overlay driver only/ },
  { name: 'unknown key refused', options: ['overlay.frobnicate=1'], error: /not known to the overlay driver/ },
  { name: 'no value', options: ['overlay.mountopt'], error: /expected <driver>\.<key>=<value>/ },
  { name: 'a mount option naming layer dirs', options: ['overlay.mountopt=upperdir=/x'], error: /would override the layer directories/ },
];

for (const c of cases) {
  test(`storage options: ${c.name}`, () => {
    if (c.error) assert.throws(() => parseStorageOptions(c.options), c.error);
    else assert.deepEqual(parseStorageOptions(c.options), c.want);
  });
}
