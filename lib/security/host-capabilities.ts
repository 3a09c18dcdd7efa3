import { promises as fs } from 'node:fs';
import { InternalError } from '../errors';
import { ALL_CAPABILITIES } from './capabilities';

/**
 * What the daemon may hand to containers: its own bounding set. On hosts where even root lacks a
 * capability (here CAP_SYS_RESOURCE), asking runc for it would fail the create with EPERM.
 */

/** Names of the capabilities whose bits are set in a /proc status mask such as `000001fffeffffff`. */
export function parseCapabilityMask(hex: string): string[] {
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw new InternalError(`malformed capability mask "${hex}"`);
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The daemon's bounding capability set (CapBnd of /proc/self/status) as `CAP_X` names. */
export async function readHostCapabilities(statusPath = '/proc/self/status'): Promise<string[]> {
  const status = await fs.readFile(statusPath, 'utf8');
  const match = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  if (!match?.[1]) throw new InternalError(`no CapBnd line in ${statusPath}`);
  return parseCapabilityMask(match[1]);
}
