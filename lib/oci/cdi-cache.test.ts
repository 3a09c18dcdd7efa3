import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { nullLogger } from '../log';
import { loadCdiRegistry, watchCdiSpecs } from './cdi-cache';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-cdi-test-'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

const YAML = `cdiVersion: "0.5.0"
kind: "vendor0.com/device"
devices:
  - name: loop8
    containerEdits:
      deviceNodes:
        - path: /dev/loop8
          type: b
          major: 7
          minor: 8
          fileMode: 0640
containerEdits:
  env:
    - VENDOR0=injected
`;

test('loadCdiRegistry reads YAML (go-yaml octal) and JSON, skips other files and reports broken ones', async () => {
  const d = path.join(dir, 'load');
  await fs.mkdir(d);
  await fs.writeFile(path.join(d, 'vendor0.yaml'), YAML);
  await fs.writeFile(path.join(d, 'vendor1.json'), JSON.stringify({ cdiVersion: '0.3.0', kind: 'vendor1.com/x', devices: [{ name: 'a', containerEdits: { env: ['A=1'] } }] }));
  await fs.writeFile(path.join(d, 'broken.yaml'), 'cdiVersion: "0.3.0"\nkind: "v.com/x"\ndevices:\n  invalid data\n');
  await fs.writeFile(path.join(d, 'notes.txt'), 'ignored');
  const reg = await loadCdiRegistry([d, path.join(dir, 'missing')]);
  assert.deepEqual([...reg.devices.keys()].sort(), ['vendor0.com/device=loop8', 'vendor1.com/x=a']);
  assert.equal(reg.devices.get('vendor0.com/device=loop8')?.device.containerEdits.deviceNodes?.[0]?.fileMode, 0o640);
  assert.deepEqual(
    reg.errors.map((e) => path.basename(e.path)),
    ['broken.yaml'],
  );
});

test('watchCdiSpecs notices a spec directory created after start', async () => {
  const d = path.join(dir, 'late', 'run', 'cdi');
  await fs.mkdir(path.join(dir, 'late'));
  const cache = await watchCdiSpecs([d], nullLogger());
  try {
    assert.equal(cache.current().devices.size, 0);
    await fs.mkdir(d, { recursive: true });
    await fs.writeFile(path.join(d, 'v.yaml'), YAML);
    const until = Date.now() + 20_000;
    while (cache.current().devices.size === 0) {
      assert.ok(Date.now() < until, 'the new spec was not loaded within 20s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await fs.rm(path.join(d, 'v.yaml'));
    while (cache.current().devices.size !== 0) {
      assert.ok(Date.now() < until, 'the removed spec stayed loaded');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    cache.close();
  }
});
