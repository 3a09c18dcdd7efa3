import http from 'node:http';
import { InvalidArgumentError } from '../errors';
import type { ContainerInfo, CrioInfo } from './inspect-info';

/**
 * `crio status`, CRI-O's crio-status: a client of the inspect API a running daemon serves on its
 * CRI socket. Same subcommands, aliases, flags and output as CRI-O's (internal/criocli/status.go):
 *   crio status [--socket PATH] config | info | containers --id ID
 */

export const DEFAULT_SOCKET = '/var/run/crio/crio.sock';

type Sub = 'config' | 'info' | 'containers';

const SUBCOMMANDS: Record<string, Sub> = {
  config: 'config',
  c: 'config',
  info: 'info',
  i: 'info',
  containers: 'containers',
  container: 'containers',
  cs: 'containers',
  s: 'containers',
};

const USAGE = `Usage: crio status [--socket PATH] command

Display status information of a running daemon (its inspect API on the CRI socket).

Commands:
  config, c                          Show the configuration of crio-ts as a TOML string.
  containers, container, cs, s       Display detailed information about the provided container ID (--id ID).
  info, i                            Retrieve generic information, such as the cgroup and storage driver.

Options:
  --socket value, -s value           absolute path to the unix socket (default: ${DEFAULT_SOCKET})
  --id value, -i value               the container ID (containers)
`;

/** A parsed `crio status` command line. */
export interface StatusArgs {
  socket: string;
  sub?: Sub;
  id?: string;
}

/** Reads `--name value`, `--name=value` or `-n value` at argv[i]; returns the value and the next index, or undefined. */
function flagValue(argv: string[], i: number, long: string, short: string): { value: string; next: number } | undefined {
  const arg = argv[i] ?? '';
  if (arg.startsWith(`--${long}=`)) return { value: arg.slice(long.length + 3), next: i + 1 };
  if (arg !== `--${long}` && arg !== `-${short}`) return undefined;
  const value = argv[i + 1];
  if (value === undefined) throw new InvalidArgumentError(`flag ${arg} needs a value`);
  return { value, next: i + 2 };
}

/** Parses the arguments after `status`; undefined `sub` means: print the usage. */
export function parseStatusArgs(argv: string[]): StatusArgs {
  const args: StatusArgs = { socket: DEFAULT_SOCKET };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] ?? '';
    // As urfave/cli: `--socket` belongs to `status`, `--id` to `containers`; crio-ts takes --socket anywhere.
    const socket = flagValue(argv, i, 'socket', 's');
    const id = args.sub === 'containers' ? flagValue(argv, i, 'id', 'i') : undefined;
    if (socket) {
      args.socket = socket.value;
      i = socket.next;
    } else if (id) {
      args.id = id.value;
      i = id.next;
    } else if (arg === '--help' || arg === '-h' || arg === 'help') {
      return { socket: args.socket };
    } else if (!arg.startsWith('-') && args.sub === undefined) {
      const sub = SUBCOMMANDS[arg];
      if (!sub) throw new InvalidArgumentError(`unknown status command "${arg}"; commands are config, info, containers`);
      args.sub = sub;
      i++;
    } else {
      throw new InvalidArgumentError(`unexpected argument "${arg}"; see crio status --help`);
    }
  }
  return args;
}

/** GET `path` on the daemon's socket; rejects on a connection error or a non-200 answer (with the daemon's text). */
export function inspectGet(socketPath: string, path: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, headers: { Host: 'crio' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(body.trim() || `HTTP ${res.statusCode ?? '?'} from ${socketPath}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(new Error(`cannot query ${socketPath}: ${err.message}`)));
  });
}

function sortedLines(map: Record<string, string> | null | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `  ${k}: ${map?.[k] ?? ''}\n`)
    .join('');
}

/** CRI-O's `status info` text. */
export function formatInfo(info: CrioInfo): string {
  const maps = (m: CrioInfo['default_id_mappings']['uids']) => m.map((x) => `  ${x.container_id}:${x.host_id}:${x.size}\n`).join('');
  return (
    `cgroup driver: ${info.cgroup_driver}\n` +
    `storage driver: ${info.storage_driver}\n` +
    `storage graph root: ${info.storage_root}\n` +
    `storage image: ${info.storage_image}\n` +
    'default GID mappings (format <container>:<host>:<size>):\n' +
    maps(info.default_id_mappings.gids) +
    'default UID mappings (format <container>:<host>:<size>):\n' +
    maps(info.default_id_mappings.uids)
  );
}

/** CRI-O's `status containers` text (map entries sorted, where Go prints them in random order). */
export function formatContainer(c: Omit<ContainerInfo, 'created_time'> & { created_time: bigint | number | string }): string {
  return (
    `name: ${c.name}\n` +
    `pid: ${c.pid}\n` +
    `image: ${c.image}\n` +
    `image ref: ${c.image_ref}\n` +
    `created: ${String(c.created_time)}\n` +
    `labels:\n${sortedLines(c.labels)}` +
    `annotations:\n${sortedLines(c.annotations)}` +
    `CRI-O annotations:\n${sortedLines(c.crio_annotations)}` +
    `log path: ${c.log_path}\n` +
    `graph root: ${c.root}\n` +
    `sandbox: ${c.sandbox}\n` +
    `ips: ${(c.ip_addresses ?? []).join(', ')}\n`
  );
}

/** Runs `crio status` with the arguments after `status`; returns the text to print. */
export async function runStatusCommand(argv: string[]): Promise<string> {
  const args = parseStatusArgs(argv);
  switch (args.sub) {
    case undefined:
      return USAGE;
    case 'config':
      return inspectGet(args.socket, '/config');
    case 'info':
      return formatInfo(JSON.parse(await inspectGet(args.socket, '/info')) as CrioInfo);
    case 'containers': {
      if (!args.id) throw new InvalidArgumentError('the argument --id cannot be empty');
      // created_time is an int64: keep its digits (JSON.parse would round it to a double).
      const body = (await inspectGet(args.socket, `/containers/${encodeURIComponent(args.id)}`)).replace(/"created_time":(-?\d+)/, '"created_time":"$1"');
      return formatContainer(JSON.parse(body) as Parameters<typeof formatContainer>[0]);
    }
  }
}
