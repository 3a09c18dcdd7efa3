import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { hostMaskedPaths } from './host-masked-paths';

const layouts: { name: string; dirs: string[]; want: string[] }[] = [
  { name: 'CPUs with thermal_throttle only', dirs: ['cpu0/thermal_throttle', 'cpu1', 'cpu2/thermal_throttle', 'cpufreq'], want: ['cpu0', 'cpu2'] },
  { name: 'no thermal_throttle anywhere', dirs: ['cpu0', 'cpu1'], want: [] },
];
for (const c of layouts) {
  test(`hostMaskedPaths: ${c.name}`, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cpus-'));
    try {
      for (const d of c.dirs) await fs.mkdir(path.join(dir, d), { recursive: true });
      assert.deepEqual(await hostMaskedPaths(dir), c.want.map((cpu) => `${dir}/${cpu}/thermal_throttle`));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}

test('hostMaskedPaths: a missing directory gives nothing', async () => assert.deepEqual(await hostMaskedPaths('/nonexistent/cpu'), []));
