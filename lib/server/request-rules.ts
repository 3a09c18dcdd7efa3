import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * Rules a request must meet before anything is made for it (pure): names, ports, paths, and no
 * NUL byte anywhere (argv, paths and files cannot carry one; it would surface later as a raw
 * `spawn` or runc error). Each refusal is INVALID_ARGUMENT naming the CRI field, in the proto's
 * snake_case, and the rule it breaks.
 */

/** Longest name the kubelet can produce (a DNS-1123 subdomain: pod names; namespaces and container names are shorter). */
export const MAX_NAME_BYTES = 253;
/** Longest path the kernel takes (PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest single argument or environment string execve(2) takes (MAX_ARG_STRLEN, with its NUL). */
export const MAX_ARG_BYTES = 131072 - 1;

const CONTROL = /[\x00-\x1f\x7f]/;

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A pod or container name: not empty, no control characters, at most 253 bytes. */
export function checkName(field: string, value: string, allowEmpty = false): void {
  if (value === '') {
    if (allowEmpty) return;
    throw new InvalidArgumentError(`${field} is empty`);
  }
  if (CONTROL.test(value)) throw new InvalidArgumentError(`${field} ${quote(value)} contains a control character: names must be printable`);
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) throw new InvalidArgumentError(`${field} ${quote(value)} is too long: at most ${MAX_NAME_BYTES} bytes`);
}

/** A host or container path: at most PATH_MAX bytes. */
export function checkPath(field: string, value: string): void {
  if (Buffer.byteLength(value) > MAX_PATH_BYTES) throw new InvalidArgumentError(`${field} ${quote(value)} is too long: at most ${MAX_PATH_BYTES} bytes (PATH_MAX)`);
}

/** Arguments and environment strings execve(2) can take: each under MAX_ARG_STRLEN (else `E2BIG` from deep inside runc). */
export function checkArgs(field: string, values: readonly string[]): void {
  values.forEach((v, i) => {
    if (Buffer.byteLength(v) > MAX_ARG_BYTES) throw new InvalidArgumentError(`${field}[${i}] ${quote(v)} is too long: at most ${MAX_ARG_BYTES} bytes (MAX_ARG_STRLEN)`);
  });
}

/**
 * Refuses a NUL byte in any string of a request (values, map keys, list items); `value` is the
 * message as ts-proto decoded it (camelCase keys).
 */
export function checkNoNulBytes(field: string, value: unknown): void {
  if (typeof value === 'string') {
    if (value.includes('\0')) throw new InvalidArgumentError(`${field} ${quote(value)} contains a NUL byte, which no name, path or argument can carry`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkNoNulBytes(`${field}[${i}]`, v));
    return;
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\0')) throw new InvalidArgumentError(`${field} has a key ${quote(k)} with a NUL byte`);
    checkNoNulBytes(`${field}.${snake(k)}`, v);
  }
}

/** What checkPortMappings reads of a CRI PortMapping. */
export interface PortMappingInput {
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

/** Container ports 1..65535, host ports 0..65535 (0: none), host IP empty or an address: the portmap plugin would fail after the pod got its IP. */
export function checkPortMappings(field: string, mappings: readonly PortMappingInput[]): void {
  mappings.forEach((m, i) => {
    const at = `${field}[${i}]`;
    if (!Number.isInteger(m.containerPort) || m.containerPort < 1 || m.containerPort > 65535) {
      throw new InvalidArgumentError(`${at}.container_port ${m.containerPort} is not a port: it must be 1..65535`);
    }
    if (!Number.isInteger(m.hostPort) || m.hostPort < 0 || m.hostPort > 65535) {
      throw new InvalidArgumentError(`${at}.host_port ${m.hostPort} is not a port: it must be 0..65535 (0: no host port)`);
    }
    if (m.hostIp !== '' && isIP(m.hostIp) === 0) throw new InvalidArgumentError(`${at}.host_ip ${quote(m.hostIp)} is not an IP address`);
  });
}
