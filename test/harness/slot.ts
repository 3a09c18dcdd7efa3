/**
 * Several checkouts may run their integration tests on one host at the same time (parallel
 * work trees of one team). Bridges and subnets are host-global, so each run takes a slot from
 * CRIO_TEST_SLOT (0..9, default 0) that moves its bridge names and its 10.x second octet.
 */
export const TEST_SLOT = slotFromEnv(process.env.CRIO_TEST_SLOT);

function slotFromEnv(value: string | undefined): number {
  const n = Number(value ?? '0');
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new Error(`CRIO_TEST_SLOT must be 0..9, got ${JSON.stringify(value)}`);
  return n;
}

/** A bridge name for a test network index, unique per slot (at most 15 bytes, IFNAMSIZ). */
export function testBridge(index: number | string): string {
  return TEST_SLOT === 0 ? `crts${index}` : `crts${TEST_SLOT}n${index}`;
}

/** The second octet of a test subnet: 10.<octet>.<index>.0/24. */
export const TEST_SUBNET_OCTET = 88 + TEST_SLOT;

/** Matches an address inside a test daemon's /24 subnet ("10.88.12.0/24" → 10.88.12.x). */
export function inSubnet(subnet: string): RegExp {
  const prefix = subnet.replace(/\.0\/24$/, '.');
  return new RegExp(`^${prefix.replace(/\./g, '\\.')}\\d+$`);
}
