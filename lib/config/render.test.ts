import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { defaultConfig, defaultRuntimeHandler } from './config';
import { loadConfig } from './load';
import { renderConfig } from './render';

// build/lib/config/render.test.js → <repo>/conf/crio.conf
const CONF = join(__dirname, '..', '..', '..', 'conf', 'crio.conf');
const noSystemd = { systemdBooted: () => false };

test('conf/crio.conf is renderConfig(defaultConfig())', () => {
  const want = renderConfig(defaultConfig());
  // Regenerate with: UPDATE_CONF=1 node --test build/lib/config/render.test.js
  if (process.env.UPDATE_CONF === '1') writeFileSync(CONF, want);
  assert.equal(readFileSync(CONF, 'utf8'), want, 'conf/crio.conf is stale; regenerate it (see the comment above)');
});

test('loading conf/crio.conf yields defaultConfig()', async () => {
  const { config, warnings } = await loadConfig({ configFile: CONF, configDir: '', validate: noSystemd });
  assert.deepEqual(config, { ...defaultConfig(), config_file: CONF, config_dir: '' });
  assert.deepEqual(warnings, []);
});

test('a rendered non-default config loads back unchanged', async () => {
  const config = defaultConfig();
  config.runtime.runtimes['my.handler'] = { ...defaultRuntimeHandler('my.handler'), runtime_path: '/opt/"q"/rt' };
  config.runtime.default_env = ['A=tab\there', 'B=ünïcode'];
  config.crio.storage_option = ['overlay.mountopt=nodev'];
  config.api.stream_port = '10010';
  const dir = mkdtempSync(join(tmpdir(), 'crio-render-test-'));
  try {
    const file = join(dir, 'crio.conf');
    writeFileSync(file, renderConfig(config));
    const loaded = await loadConfig({ configFile: file, configDir: '', validate: noSystemd });
    assert.deepEqual(loaded.config, { ...config, config_file: file, config_dir: '' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every key is preceded by a comment', () => {
  const lines = renderConfig(defaultConfig()).split('\n');
  lines.forEach((line, i) => {
    if (/^[a-z_]+ = /.test(line)) assert.match(lines[i - 1], /^# \S/, `key line ${i + 1}: ${line}`);
  });
});
