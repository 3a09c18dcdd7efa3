import { networkInterfaces } from 'node:os';

/**
 * The host to put in streaming URLs. A wildcard bind address cannot be dialled, so like CRI-O
 * (which asks for the node's default-route address) the first non-internal IPv4 address is used,
 * falling back to loopback. IPv6 literals are bracketed for URLs.
 */
export function advertisedHost(bindAddress: string): string {
  const unspecified = bindAddress === '' || bindAddress === '0.0.0.0' || bindAddress === '::' || bindAddress === '[::]';
  const host = unspecified ? firstExternalIPv4() ?? '127.0.0.1' : bindAddress.replace(/^\[(.*)\]$/, '$1');
  return host.includes(':') ? `[${host}]` : host;
}

function firstExternalIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
