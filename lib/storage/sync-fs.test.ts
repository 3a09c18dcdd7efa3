import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { syncFilesystem } from './sync-fs';

const cases: { name: string; run: (dir: string) => Promise<void> }[] = [
  {
    name: 'one call resolves',
    run: async (dir) => syncFilesystem(dir),
  },
  {
    name: 'many calls at once on one filesystem all resolve (they share syncs)',
    run: async (dir) => {
      const paths = await Promise.all(Array.from({ length: 8 }, (_, i) => fs.mkdtemp(path.join(dir, `d${i}-`))));
      await Promise.all(paths.map((p) => syncFilesystem(p)));
      // And later calls still get a sync of their own.
      await syncFilesystem(dir);
    },
  },
  {
    name: 'a missing path rejects',
    run: async (dir) => {
      await assert.rejects(syncFilesystem(path.join(dir, 'missing')), /ENOENT/);
    },
  },
];

for (const c of cases) {
  test(c.name, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-sync-fs-'));
    try {
      await c.run(dir);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
}
