import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { InvalidArgumentError, NotFoundError } from '../errors';
import { defaultConfig, type Config, type FlagOverrides } from './config';
import { loadConfig, type LoadedConfig } from './load';

const base = mkdtempSync(join(tmpdir(), 'crio-config-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

let seq = 0;
/** A fresh dir holding main.conf (if given) and conf.d/<name> drop-ins. */
function layout(
  main: string | undefined,
  dropIns: Record<string, string> = {},
): { configFile: string; configDir: string } {
  const dir = join(base, String(seq++));
  const configDir = join(dir, 'conf.d');
  mkdirSync(configDir, { recursive: true });
  const configFile = join(dir, 'main.conf');
  if (main !== undefined) writeFileSync(configFile, main);
  for (const [name, text] of Object.entries(dropIns)) writeFileSync(join(configDir, name), text);
  return { configFile, configDir };
}

const noSystemd = { systemdBooted: () => false };

async function load(
  main: string | undefined,
  dropIns: Record<string, string> = {},
  overrides: FlagOverrides = {},
): Promise<LoadedConfig & { configFile: string; configDir: string }> {
  const paths = layout(main, dropIns);
  const loaded = await loadConfig({ ...paths, overrides, validate: noSystemd });
  return { ...loaded, ...paths };
}

test('load: no files gives the defaults', async () => {
  const { config, warnings, sources } = await loadConfig({ configFile: '', configDir: '', validate: noSystemd });
  assert.deepEqual(config, { ...defaultConfig(), config_file: '', config_dir: '' });
  assert.deepEqual(warnings, []);
  assert.deepEqual(sources, []);
});

test('load: an explicitly given missing file is an error, a missing dir is not', async () => {
  const missing = join(base, 'nope.conf');
  await assert.rejects(loadConfig({ configFile: missing, configDir: join(base, 'nodir') }), (err: unknown) => {
    assert.ok(err instanceof NotFoundError);
    assert.match(err.message, /nope\.conf does not exist/);
    return true;
  });
  const { sources } = await loadConfig({ configFile: '', configDir: join(base, 'nodir'), validate: noSystemd });
  assert.deepEqual(sources, []);
});

const MAIN = `
[crio.runtime]
log_level = "debug"
default_env = ["A=1"]
[crio.image]
pause_image = "main/pause"
`;
const DROP_INS: Record<string, string> = {
  '20-b.conf': '[crio.image]\npause_image = "b/pause"\n[crio.runtime.runtimes.runc]\nruntime_path = "/usr/sbin/runc"\n',
  '10-a.conf':
    '[crio.image]\npause_image = "a/pause"\n[crio.runtime]\ndefault_env = ["B=2"]\n[crio.runtime.runtimes.crun]\nruntime_path = "/usr/bin/crun"\n',
  '30-c.conf': '[crio.runtime.runtimes.crun]\nmonitor_cgroup = "pod"\n',
  'zz.txt': 'not toml at all [[[',
};

interface PrecedenceCase {
  name: string;
  overrides: FlagOverrides;
  check: (c: Config) => void;
}
const precedence: PrecedenceCase[] = [
  {
    name: 'main file sets what no drop-in overrides',
    overrides: {},
    check: (c) => assert.equal(c.runtime.log_level, 'debug'),
  },
  {
    name: 'drop-ins win over main, last in lexical order wins',
    overrides: {},
    check: (c) => assert.equal(c.image.pause_image, 'b/pause'),
  },
  {
    name: 'a later list replaces the earlier one',
    overrides: {},
    check: (c) => assert.deepEqual(c.runtime.default_env, ['B=2']),
  },
  {
    name: 'runtimes merge per handler and per key',
    overrides: {},
    check: (c) => {
      assert.deepEqual(Object.keys(c.runtime.runtimes), ['runc', 'crun']);
      assert.equal(c.runtime.runtimes.runc.runtime_path, '/usr/sbin/runc');
      assert.equal(c.runtime.runtimes.runc.runtime_root, '/run/runc');
      assert.equal(c.runtime.runtimes.crun.runtime_path, '/usr/bin/crun');
      assert.equal(c.runtime.runtimes.crun.runtime_root, '/run/crun');
      assert.equal(c.runtime.runtimes.crun.monitor_cgroup, 'pod');
    },
  },
  {
    name: 'flags win over every file',
    overrides: {
      image: { pause_image: 'flag/pause' },
      runtime: { log_level: 'warn' },
      network: { plugin_dirs: ['/x'] },
    },
    check: (c) => {
      assert.equal(c.image.pause_image, 'flag/pause');
      assert.equal(c.runtime.log_level, 'warn');
      assert.deepEqual(c.network.plugin_dirs, ['/x']);
    },
  },
  {
    name: 'registries_conf comes from flags only',
    overrides: { registries_conf: '/r.conf' },
    check: (c) => assert.equal(c.registries_conf, '/r.conf'),
  },
];
for (const c of precedence) {
  test(`load precedence: ${c.name}`, async () => {
    const loaded = await load(MAIN, DROP_INS, c.overrides);
    c.check(loaded.config);
    const d = loaded.configDir;
    assert.deepEqual(loaded.sources, [
      loaded.configFile,
      join(d, '10-a.conf'),
      join(d, '20-b.conf'),
      join(d, '30-c.conf'),
    ]);
    assert.deepEqual(loaded.warnings, []);
  });
}

test('load: unknown tables and keys are warnings naming file and key', async () => {
  const { warnings, configFile } = await load(
    'other = 1\n[crio]\nfoo = 1\n[crio.runtime]\nbar = "x"\n[crio.bogus]\nx = 1\n[crio.runtime.runtimes.runc]\nbaz = true\n',
  );
  assert.deepEqual(warnings, [
    `${configFile}: unknown key "other" ignored (every crio.conf setting lives under [crio])`,
    `${configFile}: unknown key crio.foo ignored`,
    `${configFile}: unknown key crio.runtime.bar ignored`,
    `${configFile}: unknown key crio.runtime.runtimes.runc.baz ignored`,
    `${configFile}: unknown key crio.bogus ignored`,
  ]);
});

test('load: canonical forms and unsupported-feature warnings', async () => {
  const { config, warnings } = await load(
    '[crio.api]\nlisten = "unix:///tmp/x.sock"\ngrpc_max_send_msg_size = 0\n' +
      '[crio.runtime]\ndefault_capabilities = ["chown", "cap_kill"]\nlog_level = "INFO"\nctr_stop_timeout = 5\n' +
      '[crio.image]\ninsecure_registries = ["r:5000"]\n[crio.metrics]\nenable_metrics = true\n' +
      'metrics_collectors = ["crio_operations_total", "container_runtime_crio_image_pulls_success_total", "resources_stalled_at_stage", "bogus"]\n' +
      'metrics_cert = "/c.pem"\n[crio.nri]\nenable_nri = true\n',
  );
  assert.equal(config.api.listen, '/tmp/x.sock');
  assert.equal(config.api.grpc_max_send_msg_size, 83886080);
  assert.deepEqual(config.runtime.default_capabilities, ['CAP_CHOWN', 'CAP_KILL']);
  assert.equal(config.runtime.log_level, 'info');
  assert.equal(config.runtime.ctr_stop_timeout, 30);
  assert.equal(warnings.length, 6);
  assert.match(warnings.join('\n'), /ctr_stop_timeout.*using 30/);
  assert.match(warnings.join('\n'), /insecure_registries: deprecated and has no effect/);
  assert.match(warnings.join('\n'), /metrics_collectors: "resources_stalled_at_stage" is not collected by crio-ts/);
  assert.match(warnings.join('\n'), /metrics_collectors: unknown collector "bogus" ignored/);
  assert.match(warnings.join('\n'), /metrics_cert and metrics_key work only together/);
  assert.match(warnings.join('\n'), /crio\.nri\.enable_nri: unsupported by crio-ts, ignored/);
});

interface ErrorCase {
  name: string;
  main?: string;
  dropIn?: string;
  overrides?: FlagOverrides;
  /** Receives the path of the file expected in the message. */
  error: (file: string) => string | RegExp;
}
const errors: ErrorCase[] = [
  {
    name: 'string expected',
    main: '[crio.api]\nstream_port = 10010\n',
    error: (f) => `${f}: crio.api.stream_port: expected a string, got 10010`,
  },
  {
    name: 'integer expected',
    main: '[crio.runtime]\npids_limit = "many"\n',
    error: (f) => `${f}: crio.runtime.pids_limit: expected an integer, got "many"`,
  },
  {
    name: 'float is not an integer',
    main: '[crio.runtime]\npids_limit = 1.5\n',
    error: (f) => `${f}: crio.runtime.pids_limit: expected an integer, got 1.5`,
  },
  {
    name: 'bool expected',
    main: '[crio.runtime]\nselinux = "yes"\n',
    error: (f) => `${f}: crio.runtime.selinux: expected true or false, got "yes"`,
  },
  {
    name: 'string array expected',
    main: '[crio.runtime.runtimes.runc]\nallowed_annotations = [1]\n',
    error: (f) => `${f}: crio.runtime.runtimes.runc.allowed_annotations: expected an array of strings, got [1]`,
  },
  { name: 'table expected', main: '[crio]\napi = 1\n', error: (f) => `${f}: crio.api: expected a table, got 1` },
  {
    name: 'bad value in a drop-in names the drop-in',
    main: '[crio.runtime]\ncgroup_manager = "systemd"\n',
    dropIn: '[crio.runtime]\ncgroup_manager = "foo"\n',
    error: (f) => `${f}: crio.runtime.cgroup_manager: expected "cgroupfs" or "systemd", got "foo"`,
  },
  {
    name: 'bad value in a new handler names the file that added it',
    dropIn: '[crio.runtime.runtimes.kata]\nruntime_path = "/usr/bin/kata"\nruntime_type = "vm"\n',
    error: (f) => new RegExp(`^${f}: crio\\.runtime\\.runtimes\\.kata\\.runtime_type: expected "oci"`),
  },
  {
    name: 'default_runtime must exist',
    dropIn: '[crio.runtime]\ndefault_runtime = "crun"\n',
    error: (f) =>
      `${f}: crio.runtime.default_runtime: expected the name of a [crio.runtime.runtimes.<name>] table ("runc"), got "crun"`,
  },
  {
    name: 'bad flag value names the command line',
    main: '[crio.runtime]\ncgroup_manager = "cgroupfs"\n',
    overrides: { api: { stream_port: 'x' } },
    error: () => 'command line: crio.api.stream_port: expected a port number 0-65535, got "x"',
  },
  {
    name: 'systemd refused without systemd',
    main: '[crio.runtime]\ncgroup_manager = "systemd"\n',
    error: (f) => new RegExp(`^${f}: .*systemd is not init here`),
  },
  {
    name: 'TOML syntax error names file and line',
    main: '[crio]\nroot = "/x"\nrunroot = \n',
    error: (f) => new RegExp(`^${f}: TOML syntax error at line 3, column \\d+: `),
  },
  {
    name: 'duplicate key is a syntax error',
    dropIn: '[crio]\nroot = "/a"\nroot = "/b"\n',
    error: (f) => new RegExp(`^${f}: TOML syntax error at line 3`),
  },
];
for (const c of errors) {
  test(`load error: ${c.name}`, async () => {
    const paths = layout(c.main ?? '', c.dropIn === undefined ? {} : { '50-x.conf': c.dropIn });
    const file = c.dropIn === undefined ? paths.configFile : join(paths.configDir, '50-x.conf');
    await assert.rejects(
      loadConfig({ ...paths, overrides: c.overrides ?? {}, validate: noSystemd }),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        const want = c.error(file);
        if (typeof want === 'string') assert.equal(err.message, want);
        else assert.match(err.message, want);
        return true;
      },
    );
  });
}
