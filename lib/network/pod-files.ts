import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import { writeFileAtomic } from '../fsutil';

/**
 * The per-pod /etc/hosts, /etc/resolv.conf and /etc/hostname that containers bind-mount.
 * Rendering is pure; writePodFiles puts the three files into the sandbox directory.
 */

/** The pod's DNS settings (CRI DNSConfig). */
export interface PodDnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** Input of writePodFiles. */
export interface PodFilesInput {
  hostname: string;
  /** The pod's IPs, or the promise of them (the CNI ADD): only /etc/hosts waits for it. */
  ips: string[] | Promise<string[]>;
  dns?: PodDnsConfig;
  /** Host-network pods get the node's /etc/hosts verbatim, as the kubelet does for them. */
  hostNetwork?: boolean;
}

/** Host files writePodFiles copies from (overridable for tests). */
export interface HostFilePaths {
  resolvConf?: string;
  hosts?: string;
}

/** Paths writePodFiles wrote. */
export interface PodFilePaths {
  hostsPath: string;
  resolvPath: string;
  hostnamePath: string;
}

/** The file the host's resolver configuration is copied from when the pod has no DNS config. */
export const HOST_RESOLV_CONF = '/etc/resolv.conf';
/** The host's hosts file, copied for host-network pods. */
export const HOST_HOSTS = '/etc/hosts';

// The same localhost block the kubelet writes into its managed hosts file.
const LOCALHOST_LINES = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'fe00::0\tip6-mcastprefix',
  'fe00::1\tip6-allnodes',
  'fe00::2\tip6-allrouters',
];

/** /etc/hosts: localhost entries, then each pod IP mapped to the host name (pure). */
export function renderHosts(input: { hostname: string; ips: string[] }): string {
  const lines = [...LOCALHOST_LINES];
  if (input.hostname !== '') for (const ip of input.ips) lines.push(`${ip}\t${input.hostname}`);
  return lines.join('\n') + '\n';
}

/** True when the pod specified no DNS settings at all. */
export function isEmptyDns(dns: PodDnsConfig | undefined): boolean {
  return !dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0);
}

/**
 * /etc/resolv.conf as CRI-O writes it (search, nameserver, options lines); with no DNS
 * settings it is the host's file verbatim, or empty when none was given (pure).
 */
export function renderResolvConf(dns: PodDnsConfig | undefined, hostResolvConf?: string): string {
  if (!dns || isEmptyDns(dns)) return hostResolvConf ?? '';
  let out = '';
  if (dns.searches.length > 0) out += `search ${dns.searches.join(' ')}\n`;
  for (const s of dns.servers) out += `nameserver ${s}\n`;
  if (dns.options.length > 0) out += `options ${dns.options.join(' ')}\n`;
  return out;
}

/** /etc/hostname (pure). */
export function renderHostname(hostname: string): string {
  return `${hostname}\n`;
}

/** A host file's text; a missing file reads as undefined (the pod then gets an empty or rendered one). */
async function readHostFile(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes hosts, resolv.conf and hostname into `dir` atomically; host files are read only when needed. */
export async function writePodFiles(dir: string, input: PodFilesInput, host: HostFilePaths = {}): Promise<PodFilePaths> {
  // Handled from here on: a failed ADD while the host files are read is not an unhandled rejection.
  const ips = Promise.resolve(input.ips);
  ips.catch(() => undefined);
  const [hostResolv, hostHosts] = await Promise.all([
    isEmptyDns(input.dns) ? readHostFile(host.resolvConf ?? HOST_RESOLV_CONF) : undefined,
    input.hostNetwork ? readHostFile(host.hosts ?? HOST_HOSTS) : undefined,
    fs.mkdir(dir, { recursive: true }),
  ]);
  const paths: PodFilePaths = {
    hostsPath: path.join(dir, 'hosts'),
    resolvPath: path.join(dir, 'resolv.conf'),
    hostnamePath: path.join(dir, 'hostname'),
  };
  // Pod files live in runroot (tmpfs, gone at reboot with the pod): atomic, but no fsync. The
  // three are independent, so they are written at once (pod start waits for them); a pod's own
  // hosts file waits for its IPs, a host-network pod's is the node's. All settle before a failure
  // is thrown, so the caller's removal of the directory never races a write into it.
  const hosts = hostHosts !== undefined ? Promise.resolve(hostHosts) : ips.then((list) => renderHosts({ hostname: input.hostname, ips: list }));
  const written = await Promise.allSettled([
    hosts.then((text) => writeFileAtomic(paths.hostsPath, text, 0o644, false)),
    writeFileAtomic(paths.resolvPath, renderResolvConf(input.dns, hostResolv), 0o644, false),
    writeFileAtomic(paths.hostnamePath, renderHostname(input.hostname), 0o644, false),
  ]);
  const failed = written.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return paths;
}
