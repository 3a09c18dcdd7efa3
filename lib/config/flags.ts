/**
 * The `crio` command line: CRI-O's flag names (so existing unit files and scripts keep
 * working), both `--flag value` and `--flag=value`, and the subcommands crio-ts implements.
 * Flags only record overrides; loadConfig applies them after every config file.
 */
import { InvalidArgumentError } from '../errors';
import { DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE, DEFAULT_REGISTRIES_CONF, type FlagOverrides } from './config';

/** What `crio` was asked to do. */
export type Command = 'daemon' | 'config' | 'version' | 'check' | 'wipe' | 'help' | 'status';

/** The parsed command line. */
export interface ParsedArgs {
  command: Command;
  overrides: FlagOverrides;
  /** --config; undefined means the default file, which may be missing. */
  configFile?: string;
  /** --config-dir; undefined means the default directory. */
  configDir?: string;
  /** --log-format (CRI-O's; not a config key): text (default) or json. */
  logFormat?: string;
  /** `wipe --force`: skip the version-file checks. */
  force?: boolean;
  /** The arguments after a subcommand that parses its own (`status`). */
  rest?: string[];
}

type Kind = 'value' | 'list' | 'bool' | 'switch';

interface FlagSpec {
  name: string;
  short?: string;
  kind: Kind;
  help: string;
  apply: (args: ParsedArgs, value: string) => void;
}

const SUBCOMMANDS: Record<Exclude<Command, 'daemon'>, string> = {
  config: 'print the effective configuration as commented TOML (crio.conf format)',
  version: 'print version information',
  check: 'check the configuration and storage, then exit',
  wipe: "remove crio-ts's containers (after a reboot) and images (after an upgrade); --force: both, now",
  help: 'show this help',
  status: 'query a running daemon: status [--socket PATH] config|info|containers --id ID',
};

// Accessors that create the override table on first use, so FLAGS stays one line per flag.
const crio = (a: ParsedArgs): NonNullable<FlagOverrides['crio']> => (a.overrides.crio ??= {});
const api = (a: ParsedArgs): NonNullable<FlagOverrides['api']> => (a.overrides.api ??= {});
const runtime = (a: ParsedArgs): NonNullable<FlagOverrides['runtime']> => (a.overrides.runtime ??= {});
const image = (a: ParsedArgs): NonNullable<FlagOverrides['image']> => (a.overrides.image ??= {});
const network = (a: ParsedArgs): NonNullable<FlagOverrides['network']> => (a.overrides.network ??= {});
const metrics = (a: ParsedArgs): NonNullable<FlagOverrides['metrics']> => (a.overrides.metrics ??= {});

/** Builds a FlagSpec; `names` is "long" or "long|short". */
function flag(kind: Kind, names: string, help: string, apply: FlagSpec['apply'] = () => undefined): FlagSpec {
  const [name, short] = names.split('|');
  return { name, short, kind, help, apply };
}

const FLAGS: readonly FlagSpec[] = [
  flag('value', 'config|c', `main config file (default ${DEFAULT_CONFIG_FILE})`, (a, v) => (a.configFile = v)),
  flag('value', 'config-dir|d', `drop-in directory (default ${DEFAULT_CONFIG_DIR})`, (a, v) => (a.configDir = v)),
  flag('value', 'root|r', 'storage root (crio.root)', (a, v) => (crio(a).root = v)),
  flag('value', 'runroot', 'storage state dir (crio.runroot)', (a, v) => (crio(a).runroot = v)),
  flag('value', 'log-dir', 'default pod log dir (crio.log_dir)', (a, v) => (crio(a).log_dir = v)),
  flag('value', 'version-file', 'reboot marker (crio.version_file)', (a, v) => (crio(a).version_file = v)),
  flag('value', 'clean-shutdown-file', 'clean shutdown marker (crio.clean_shutdown_file)', (a, v) => {
    crio(a).clean_shutdown_file = v;
  }),
  flag('value', 'listen', 'CRI socket path (crio.api.listen)', (a, v) => (api(a).listen = v)),
  flag('value', 'stream-address', 'stream server address (crio.api.stream_address)', (a, v) => {
    api(a).stream_address = v;
  }),
  flag('value', 'stream-port', 'stream server port (crio.api.stream_port)', (a, v) => (api(a).stream_port = v)),
  flag('value', 'log-level|l', 'daemon log level (crio.runtime.log_level)', (a, v) => (runtime(a).log_level = v)),
  flag('value', 'log-filter', 'only log lines matching this regular expression (crio.runtime.log_filter)', (a, v) => {
    runtime(a).log_filter = v;
  }),
  flag('value', 'log-format', 'daemon log format: text (default) or json', (a, v) => (a.logFormat = v)),
  flag('value', 'conmon', 'conmon binary (crio.runtime.conmon)', (a, v) => (runtime(a).conmon = v)),
  flag('value', 'default-runtime', 'default handler (crio.runtime.default_runtime)', (a, v) => {
    runtime(a).default_runtime = v;
  }),
  flag('value', 'cgroup-manager', 'cgroupfs or systemd (crio.runtime.cgroup_manager)', (a, v) => {
    runtime(a).cgroup_manager = v;
  }),
  flag('value', 'namespaces-dir', 'pinned namespaces dir (crio.runtime.namespaces_dir)', (a, v) => {
    runtime(a).namespaces_dir = v;
  }),
  flag('value', 'container-exits-dir', 'conmon exit files (crio.runtime.container_exits_dir)', (a, v) => {
    runtime(a).container_exits_dir = v;
  }),
  flag('bool', 'drop-infra-ctr', 'no pause container when possible (crio.runtime.drop_infra_ctr)', (a, v) => {
    runtime(a).drop_infra_ctr = parseBool('drop-infra-ctr', v);
  }),
  flag('list', 'hooks-dir', 'OCI hooks dir; repeatable or comma-separated; replaces hooks_dir', (a, v) => {
    const rt = runtime(a);
    rt.hooks_dir = [...(rt.hooks_dir ?? []), ...v.split(',').filter((d) => d !== '')];
  }),
  flag('list', 'cdi-spec-dirs', 'CDI spec dir; repeatable or comma-separated; replaces cdi_spec_dirs', (a, v) => {
    const rt = runtime(a);
    rt.cdi_spec_dirs = [...(rt.cdi_spec_dirs ?? []), ...v.split(',').filter((d) => d !== '')];
  }),
  flag('value', 'default-mounts-file', 'mounts.conf path (crio.runtime.default_mounts_file)', (a, v) => {
    runtime(a).default_mounts_file = v;
  }),
  flag('bool', 'device-ownership-from-security-context', 'devices owned by runAsUser (crio.runtime.device_ownership_from_security_context)', (a, v) => {
    runtime(a).device_ownership_from_security_context = parseBool('device-ownership-from-security-context', v);
  }),
  flag('value', 'pause-image', 'infra image (crio.image.pause_image)', (a, v) => (image(a).pause_image = v)),
  flag('value', 'signature-policy', 'policy.json path (crio.image.signature_policy)', (a, v) => {
    image(a).signature_policy = v;
  }),
  flag('value', 'registries-conf', `registries.conf path (default ${DEFAULT_REGISTRIES_CONF})`, (a, v) => {
    a.overrides.registries_conf = v;
  }),
  flag('value', 'cni-config-dir', 'CNI config dir (crio.network.network_dir)', (a, v) => (network(a).network_dir = v)),
  flag('list', 'cni-plugin-dir', 'CNI plugin dir; repeatable or comma-separated; replaces plugin_dirs', (a, v) => {
    const net = network(a);
    net.plugin_dirs = [...(net.plugin_dirs ?? []), ...v.split(',').filter((d) => d !== '')];
  }),
  flag('bool', 'enable-metrics', 'serve Prometheus metrics (crio.metrics.enable_metrics)', (a, v) => {
    metrics(a).enable_metrics = parseBool('enable-metrics', v);
  }),
  flag('value', 'metrics-host', 'metrics address (crio.metrics.metrics_host)', (a, v) => (metrics(a).metrics_host = v)),
  flag('value', 'metrics-port', 'metrics port (crio.metrics.metrics_port)', (a, v) => (metrics(a).metrics_port = parsePort('metrics-port', v))),
  flag('value', 'metrics-socket', 'metrics unix socket (crio.metrics.metrics_socket)', (a, v) => (metrics(a).metrics_socket = v)),
  flag('value', 'metrics-cert', 'metrics TLS certificate (crio.metrics.metrics_cert)', (a, v) => (metrics(a).metrics_cert = v)),
  flag('value', 'metrics-key', 'metrics TLS key (crio.metrics.metrics_key)', (a, v) => (metrics(a).metrics_key = v)),
  flag('list', 'metrics-collectors', 'enabled metrics collectors; repeatable or comma-separated', (a, v) => {
    const m = metrics(a);
    m.metrics_collectors = [...(m.metrics_collectors ?? []), ...v.split(',').filter((c) => c !== '')];
  }),
  flag('switch', 'force|f', 'wipe: skip the version checks'),
  flag('switch', 'help|h', 'show this help'),
  flag('switch', 'version|v', 'print version information'),
];

/** Parse `crio` arguments (argv without node and the script); throws InvalidArgumentError. */
export function parseArgs(argv: string[]): ParsedArgs {
  const args: ParsedArgs = { command: 'daemon', overrides: {} };
  let positional: Command | undefined;
  let help = false;
  let version = false;
  let flagsDone = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (flagsDone || !arg.startsWith('-') || arg === '-') {
      if (positional !== undefined || !Object.hasOwn(SUBCOMMANDS, arg)) {
        const commands = Object.keys(SUBCOMMANDS).join(', ');
        throw new InvalidArgumentError(`unexpected argument "${arg}"; commands are ${commands}`);
      }
      positional = arg as Command;
      if (positional === 'status') {
        args.rest = argv.slice(i + 1);
        break;
      }
      continue;
    }
    if (arg === '--') {
      flagsDone = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const written = eq < 0 ? arg : arg.slice(0, eq);
    const spec = findFlag(written);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (spec.kind === 'switch') {
      if (value !== undefined) throw new InvalidArgumentError(`flag ${written} takes no value`);
      if (spec.name === 'help') help = true;
      else if (spec.name === 'force') args.force = true;
      else version = true;
      continue;
    }
    if (spec.kind === 'bool') {
      spec.apply(args, value ?? 'true');
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new InvalidArgumentError(`flag ${written} needs a value`);
      value = argv[++i];
    }
    spec.apply(args, value);
  }
  args.command = help ? 'help' : (positional ?? (version ? 'version' : 'daemon'));
  return args;
}

/** The help text printed by `crio help` / `crio --help`. */
export function usage(): string {
  const lines = ['Usage: crio [options] [command]', '', 'crio-ts: a Kubernetes CRI runtime, drop-in for CRI-O.'];
  lines.push('', 'Commands:');
  lines.push(`  ${'(none)'.padEnd(10)}run the daemon`);
  for (const [name, help] of Object.entries(SUBCOMMANDS)) lines.push(`  ${name.padEnd(10)}${help}`);
  lines.push('', 'Options (flags override config files):');
  for (const f of FLAGS) {
    const takesValue = f.kind === 'value' || f.kind === 'list';
    const names = `--${f.name}${f.short ? `, -${f.short}` : ''}${takesValue ? ' value' : ''}`;
    lines.push(`  ${names.padEnd(30)}${f.help}`);
  }
  return `${lines.join('\n')}\n`;
}

function findFlag(written: string): FlagSpec {
  const spec = written.startsWith('--')
    ? FLAGS.find((f) => f.name === written.slice(2))
    : FLAGS.find((f) => f.short !== undefined && f.short === written.slice(1));
  if (!spec) throw new InvalidArgumentError(`unknown flag ${written}; see crio --help`);
  return spec;
}

function parsePort(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`flag --${flag}: expected a port number 0-65535, got "${value}"`);
  return Number(value);
}

/** Go strconv.ParseBool's spellings, as CRI-O's flag library accepts them. */
function parseBool(flag: string, value: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new InvalidArgumentError(`flag --${flag}: expected true or false, got "${value}"`);
}
