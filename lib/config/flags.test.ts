import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InvalidArgumentError } from '../errors';
import { parseArgs, usage, type ParsedArgs } from './flags';

interface Case {
  name: string;
  argv: string[];
  want: ParsedArgs;
}

const cases: Case[] = [
  { name: 'no arguments runs the daemon', argv: [], want: { command: 'daemon', overrides: {} } },
  {
    name: 'value flags, both spellings',
    argv: ['--root', '/r', '--runroot=/rr', '-c', '/c.conf', '-d=/c.d', '--listen', 'unix:///s.sock'],
    want: {
      command: 'daemon',
      configFile: '/c.conf',
      configDir: '/c.d',
      overrides: { crio: { root: '/r', runroot: '/rr' }, api: { listen: 'unix:///s.sock' } },
    },
  },
  {
    name: 'every table',
    argv: [
      '-l=debug',
      '--log-dir=/l',
      '--version-file',
      '/v',
      '--clean-shutdown-file',
      '/cs',
      '--stream-port',
      '10010',
      '--stream-address=0.0.0.0',
      '--conmon',
      '/usr/bin/conmon',
      '--default-runtime',
      'crun',
      '--cgroup-manager=systemd',
      '--namespaces-dir',
      '/ns',
      '--container-exits-dir',
      '/ex',
      '--pause-image',
      'p:1',
      '--signature-policy',
      '/p.json',
      '--registries-conf',
      '/reg.conf',
      '--cni-config-dir',
      '/net.d',
      '-r',
      '/root',
    ],
    want: {
      command: 'daemon',
      overrides: {
        crio: { log_dir: '/l', version_file: '/v', clean_shutdown_file: '/cs', root: '/root' },
        api: { stream_port: '10010', stream_address: '0.0.0.0' },
        runtime: {
          log_level: 'debug',
          conmon: '/usr/bin/conmon',
          default_runtime: 'crun',
          cgroup_manager: 'systemd',
          namespaces_dir: '/ns',
          container_exits_dir: '/ex',
        },
        image: { pause_image: 'p:1', signature_policy: '/p.json' },
        network: { network_dir: '/net.d' },
        registries_conf: '/reg.conf',
      },
    },
  },
  {
    name: 'logging and metrics flags, wipe --force',
    argv: [
      'wipe',
      '-f',
      '--log-format=json',
      '--log-filter',
      'pod.*',
      '--enable-metrics',
      '--metrics-host=0.0.0.0',
      '--metrics-port',
      '9537',
      '--metrics-socket=/m.sock',
      '--metrics-cert',
      '/c.pem',
      '--metrics-key=/k.pem',
      '--metrics-collectors=operations_total,image_pulls_success_total',
      '--metrics-collectors',
      'crio_containers_oom_total',
    ],
    want: {
      command: 'wipe',
      force: true,
      logFormat: 'json',
      overrides: {
        runtime: { log_filter: 'pod.*' },
        metrics: {
          enable_metrics: true,
          metrics_host: '0.0.0.0',
          metrics_port: 9537,
          metrics_socket: '/m.sock',
          metrics_cert: '/c.pem',
          metrics_key: '/k.pem',
          metrics_collectors: ['operations_total', 'image_pulls_success_total', 'crio_containers_oom_total'],
        },
      },
    },
  },
  {
    name: 'repeatable and comma-separated plugin dirs',
    argv: ['--cni-plugin-dir', '/a', '--cni-plugin-dir=/b,/c'],
    want: { command: 'daemon', overrides: { network: { plugin_dirs: ['/a', '/b', '/c'] } } },
  },
  {
    name: 'device and hook flags',
    argv: ['--hooks-dir=/h1,/h2', '--cdi-spec-dirs', '/c', '--default-mounts-file', '/m.conf', '--device-ownership-from-security-context'],
    want: {
      command: 'daemon',
      overrides: { runtime: { hooks_dir: ['/h1', '/h2'], cdi_spec_dirs: ['/c'], default_mounts_file: '/m.conf', device_ownership_from_security_context: true } },
    },
  },
  {
    name: 'bool flag alone',
    argv: ['--drop-infra-ctr'],
    want: { command: 'daemon', overrides: { runtime: { drop_infra_ctr: true } } },
  },
  {
    name: 'bool flag =false',
    argv: ['--drop-infra-ctr=false'],
    want: { command: 'daemon', overrides: { runtime: { drop_infra_ctr: false } } },
  },
  {
    name: 'a value may start with =',
    argv: ['--pause-image==x'],
    want: { command: 'daemon', overrides: { image: { pause_image: '=x' } } },
  },
  {
    name: 'config subcommand with flags around',
    argv: ['-c', '/x', 'config', '--root=/r'],
    want: { command: 'config', configFile: '/x', overrides: { crio: { root: '/r' } } },
  },
  { name: 'version subcommand', argv: ['version'], want: { command: 'version', overrides: {} } },
  { name: 'check subcommand', argv: ['check'], want: { command: 'check', overrides: {} } },
  { name: 'help subcommand', argv: ['help'], want: { command: 'help', overrides: {} } },
  { name: '--version', argv: ['--version'], want: { command: 'version', overrides: {} } },
  { name: '-v', argv: ['-v'], want: { command: 'version', overrides: {} } },
  { name: '--help wins', argv: ['config', '-h'], want: { command: 'help', overrides: {} } },
  { name: '-- ends flags', argv: ['--', 'version'], want: { command: 'version', overrides: {} } },
  {
    name: 'status keeps its own arguments',
    argv: ['status', '--socket', '/s.sock', 'containers', '--id', 'abc'],
    want: { command: 'status', overrides: {}, rest: ['--socket', '/s.sock', 'containers', '--id', 'abc'] },
  },
];
for (const c of cases) test(`parseArgs: ${c.name}`, () => assert.deepEqual(parseArgs(c.argv), c.want));

const failures: Array<[string, string[], RegExp]> = [
  ['unknown long flag', ['--bogus=1'], /^unknown flag --bogus; see crio --help$/],
  ['unknown short flag', ['-x'], /^unknown flag -x/],
  ['missing value', ['--root'], /^flag --root needs a value$/],
  ['bad bool', ['--drop-infra-ctr=maybe'], /^flag --drop-infra-ctr: expected true or false, got "maybe"$/],
  ['switch with value', ['--help=1'], /^flag --help takes no value$/],
  ['unknown command', ['scrub'], /^unexpected argument "scrub"; commands are config, version, check, wipe, help, status$/],
  ['bad metrics port', ['--metrics-port', 'x'], /^flag --metrics-port: expected a port number 0-65535, got "x"$/],
  ['two commands', ['config', 'version'], /^unexpected argument "version"/],
];
for (const [name, argv, message] of failures) {
  test(`parseArgs rejects: ${name}`, () => {
    assert.throws(
      () => parseArgs(argv),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

test('usage lists every flag and command', () => {
  const text = usage();
  for (const word of ['--config, -c', '--cni-plugin-dir', '--drop-infra-ctr', '--registries-conf', 'config', 'check']) {
    assert.ok(text.includes(word), word);
  }
});
