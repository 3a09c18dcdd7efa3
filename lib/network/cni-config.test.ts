import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadCniNetwork, parseCniConfig } from './cni-config';

const BRIDGE = { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local' } };

const parseCases: {
  name: string;
  file: string;
  doc: unknown;
  want?: { name: string; cniVersion: string; types: string[] };
  err?: RegExp;
}[] = [
  {
    name: 'conflist',
    file: '10-a.conflist',
    doc: { cniVersion: '1.0.0', name: 'podnet', plugins: [BRIDGE, { type: 'portmap', capabilities: { portMappings: true } }] },
    want: { name: 'podnet', cniVersion: '1.0.0', types: ['bridge', 'portmap'] },
  },
  {
    name: 'single .conf wrapped',
    file: '10-a.conf',
    doc: { cniVersion: '0.4.0', name: 'n1', ...BRIDGE },
    want: { name: 'n1', cniVersion: '0.4.0', types: ['bridge'] },
  },
  {
    name: 'single .json wrapped',
    file: 'x.json',
    doc: { cniVersion: '0.3.1', name: 'n2', type: 'ptp' },
    want: { name: 'n2', cniVersion: '0.3.1', types: ['ptp'] },
  },
  {
    name: 'cniVersion 1.1.0 ok',
    file: 'a.conflist',
    doc: { cniVersion: '1.1.0', name: 'n', plugins: [BRIDGE] },
    want: { name: 'n', cniVersion: '1.1.0', types: ['bridge'] },
  },
  {
    name: 'too old version',
    file: 'a.conflist',
    doc: { cniVersion: '0.2.0', name: 'n', plugins: [BRIDGE] },
    err: /cniVersion "0.2.0" is not supported/,
  },
  { name: 'too new version', file: 'a.conflist', doc: { cniVersion: '2.0.0', name: 'n', plugins: [BRIDGE] }, err: /not supported/ },
  { name: 'missing version', file: 'a.conflist', doc: { name: 'n', plugins: [BRIDGE] }, err: /missing 'cniVersion'/ },
  { name: 'missing name', file: 'a.conflist', doc: { cniVersion: '1.0.0', plugins: [BRIDGE] }, err: /missing 'name'/ },
  { name: 'bad name', file: 'a.conflist', doc: { cniVersion: '1.0.0', name: '-x y', plugins: [BRIDGE] }, err: /invalid network name/ },
  { name: 'empty plugins', file: 'a.conflist', doc: { cniVersion: '1.0.0', name: 'n', plugins: [] }, err: /no plugins/ },
  { name: 'plugins not a list', file: 'a.conflist', doc: { cniVersion: '1.0.0', name: 'n', plugins: {} }, err: /missing 'plugins'/ },
  {
    name: 'plugin without type',
    file: 'a.conflist',
    doc: { cniVersion: '1.0.0', name: 'n', plugins: [{ bridge: 'x' }] },
    err: /plugin 0 is missing 'type'/,
  },
  {
    name: 'plugin type with slash',
    file: 'a.conflist',
    doc: { cniVersion: '1.0.0', name: 'n', plugins: [{ type: '../../bin/sh' }] },
    err: /invalid type/,
  },
  { name: '.conf without type', file: 'a.conf', doc: { cniVersion: '1.0.0', name: 'n', plugins: [BRIDGE] }, err: /missing 'type'/ },
  { name: 'not an object', file: 'a.conf', doc: [1, 2], err: /not a JSON object/ },
];
for (const c of parseCases) {
  test(`parseCniConfig: ${c.name}`, () => {
    const text = JSON.stringify(c.doc);
    if (c.err) {
      assert.throws(() => parseCniConfig(c.file, text), c.err);
      return;
    }
    const net = parseCniConfig(c.file, text);
    assert.deepEqual({ name: net.name, cniVersion: net.cniVersion, types: net.plugins.map((p) => p.type) }, c.want);
    assert.equal(net.file, c.file);
  });
}

test('parseCniConfig: invalid JSON names the problem', () => assert.throws(() => parseCniConfig('a.conf', '{'), /invalid JSON/));

const conflist = (name: string, type = 'bridge', version = '1.0.0'): string =>
  JSON.stringify({ cniVersion: version, name, plugins: [{ type }] });

const loadCases: {
  name: string;
  files: Record<string, string>;
  defaultName?: string;
  plugins?: string[];
  want?: string;
  reason?: RegExp;
  skipped?: string[];
}[] = [
  { name: 'missing dir', files: {}, reason: /No CNI configuration file in .*Has your network provider started\?/ },
  { name: 'lexically first valid', files: { '20-b.conflist': conflist('b'), '10-a.conflist': conflist('a') }, want: 'a' },
  {
    name: 'invalid first file skipped',
    files: { '05-bad.conflist': '{oops', '10-a.conflist': conflist('a') },
    want: 'a',
    skipped: ['05-bad.conflist'],
  },
  {
    name: 'other extensions ignored',
    files: { '00-a.yaml': conflist('y'), '10-b.json': JSON.stringify({ cniVersion: '1.0.0', name: 'b', type: 'ptp' }) },
    want: 'b',
  },
  {
    name: 'default network by name',
    files: { '10-a.conflist': conflist('a'), '20-b.conflist': conflist('b') },
    defaultName: 'b',
    want: 'b',
  },
  { name: 'default network missing', files: { '10-a.conflist': conflist('a') }, defaultName: 'zzz', reason: /default network "zzz"/ },
  {
    name: 'duplicate name skipped',
    files: { '10-a.conflist': conflist('a'), '20-a.conflist': conflist('a', 'ptp') },
    defaultName: 'nope',
    reason: /default network/,
    skipped: ['20-a.conflist'],
  },
  {
    name: 'only invalid files',
    files: { '10-a.conflist': conflist('a', 'bridge', '0.1.0') },
    reason: /No CNI configuration file/,
    skipped: ['10-a.conflist'],
  },
  {
    name: 'missing plugin binary skipped',
    files: { '10-a.conflist': conflist('a', 'nosuch'), '20-b.conflist': conflist('b', 'good') },
    plugins: ['good'],
    want: 'b',
    skipped: ['10-a.conflist'],
  },
];
for (const c of loadCases) {
  test(`loadCniNetwork: ${c.name}`, async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-cniconf-'));
    try {
      const dir = path.join(tmp, 'net.d');
      if (Object.keys(c.files).length > 0) await fs.mkdir(dir);
      for (const [n, t] of Object.entries(c.files)) await fs.writeFile(path.join(dir, n), t);
      let pluginDirs: string[] | undefined;
      if (c.plugins) {
        const bin = path.join(tmp, 'bin');
        await fs.mkdir(bin);
        for (const p of c.plugins) await fs.writeFile(path.join(bin, p), '#!/bin/sh\n', { mode: 0o755 });
        pluginDirs = [bin];
      }
      const res = await loadCniNetwork(dir, c.defaultName ?? '', pluginDirs);
      assert.equal(res.network?.name, c.want);
      if (c.reason) assert.match(res.reason ?? '', c.reason);
      else assert.equal(res.reason, undefined);
      assert.deepEqual(
        res.skipped.map((s) => path.basename(s.file)),
        c.skipped ?? [],
      );
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
}
