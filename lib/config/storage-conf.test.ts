import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { loadConfig } from './load';
import { parseStorageConf, type StorageConf } from './storage-conf';

const base = mkdtempSync(join(tmpdir(), 'crio-storage-conf-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('storage.conf: driver, roots and options as c/storage turns them into driver options', () => {
  const conf = parseStorageConf(
    `[storage]
driver = "overlay"
graphroot = "/g"
runroot = "/r"
[storage.options]
additionalimagestores = ["/ro1", "/ro2"]
[storage.options.overlay]
mountopt = "nodev,metacopy=on"
skip_mount_home = "true"
`,
    'storage.conf',
  );
  assert.deepEqual(conf, {
    file: 'storage.conf',
    driver: 'overlay',
    graphroot: '/g',
    runroot: '/r',
    options: ['overlay.imagestore=/ro1', 'overlay.imagestore=/ro2', 'overlay.mountopt=nodev,metacopy=on', 'overlay.skip_mount_home=true'],
  });
  assert.equal(parseStorageConf('[storage]\ndriver = "overlay2"\n', 'x').driver, 'overlay', 'overlay2 is overlay');
  assert.throws(() => parseStorageConf('[storage\n', 'bad.conf'), /bad\.conf/);
});

const storage: StorageConf = { file: '/etc/containers/storage.conf', driver: 'overlay', graphroot: '/sc/graph', runroot: '/sc/run', options: ['overlay.mountopt=nodev'] };

/** loadConfig of a main file and drop-ins over `storage`. */
async function load(main: string, dropIns: Record<string, string> = {}, sc: StorageConf | null = storage) {
  const dir = mkdtempSync(join(base, 'c-'));
  mkdirSync(join(dir, 'd'));
  writeFileSync(join(dir, 'crio.conf'), main);
  for (const [n, t] of Object.entries(dropIns)) writeFileSync(join(dir, 'd', n), t);
  return (await loadConfig({ configFile: join(dir, 'crio.conf'), configDir: join(dir, 'd'), storageConf: sc, validate: { systemdBooted: () => false } })).config.crio;
}

const merges: { name: string; main: string; dropIns?: Record<string, string>; sc?: StorageConf | null; want: { root: string; runroot: string; storage_driver: string; storage_option: string[] } }[] = [
  { name: 'storage.conf supplies what crio.conf does not set', main: '', want: { root: '/sc/graph', runroot: '/sc/run', storage_driver: 'overlay', storage_option: ['overlay.mountopt=nodev'] } },
  {
    name: 'crio.conf wins for root and runroot; storage_option appends without duplicates',
    main: '[crio]\nroot = "/crio/root"\nrunroot = "/crio/run"\nstorage_option = ["overlay.mountopt=nodev", "overlay.imagestore=/ro"]\n',
    want: { root: '/crio/root', runroot: '/crio/run', storage_driver: 'overlay', storage_option: ['overlay.mountopt=nodev', 'overlay.imagestore=/ro'] },
  },
  {
    name: 'an empty root in a drop-in keeps what came before; each drop-in appends its options',
    main: '[crio]\nroot = "/crio/root"\n',
    dropIns: { '01.conf': '[crio]\nroot = ""\nstorage_option = ["overlay.skip_mount_home=true"]\n', '02.conf': '[crio]\nstorage_option = ["overlay.imagestore=/ro"]\n' },
    want: { root: '/crio/root', runroot: '/sc/run', storage_driver: 'overlay', storage_option: ['overlay.mountopt=nodev', 'overlay.skip_mount_home=true', 'overlay.imagestore=/ro'] },
  },
  { name: 'no storage.conf: the built-in defaults', main: '', sc: null, want: { root: '/var/lib/containers/storage', runroot: '/run/containers/storage', storage_driver: 'overlay', storage_option: [] } },
];

for (const m of merges) {
  test(`storage.conf merge: ${m.name}`, async () => {
    const crio = await load(m.main, m.dropIns, m.sc === undefined ? storage : m.sc);
    assert.deepEqual({ root: crio.root, runroot: crio.runroot, storage_driver: crio.storage_driver, storage_option: crio.storage_option }, m.want);
  });
}

test('storage.conf naming another driver is refused clearly', async () => {
  await assert.rejects(load('', {}, { ...storage, driver: 'vfs' }), /crio\.storage_driver: expected "overlay"/);
});
