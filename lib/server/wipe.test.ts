import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { versionChanged } from './wipe';

test('versionChanged: major.minor decides; missing, unreadable or malformed counts as changed; unset never', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'wipe-'));
  try {
    const f = path.join(dir, 'version');
    const cases: Array<[string | undefined, string, boolean]> = [
      ['0.1.0\n', '0.1.7', false],
      ['0.1.0', '0.2.0', true],
      ['v1.2.3', '1.2.0', false],
      ['garbage', '0.1.0', true],
      [undefined, '0.1.0', true],
    ];
    for (const [content, current, changed] of cases) {
      rmSync(f, { force: true });
      if (content !== undefined) writeFileSync(f, content);
      assert.equal((await versionChanged(f, current)).changed, changed, `${String(content)} vs ${current}`);
    }
    assert.deepEqual(await versionChanged('', '0.1.0'), { changed: false, why: 'not configured' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
