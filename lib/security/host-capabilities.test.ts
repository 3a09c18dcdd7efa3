import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { InternalError } from '../errors';
import { ALL_CAPABILITIES } from './capabilities';
import { parseCapabilityMask, readHostCapabilities } from './host-capabilities';

const cases: { name: string; mask: string; want: readonly string[] }[] = [
  { name: 'empty', mask: '0000000000000000', want: [] },
  { name: 'CHOWN and KILL', mask: '21', want: ['CAP_CHOWN', 'CAP_KILL'] },
  { name: 'full 41-cap mask', mask: '000001ffffffffff', want: ALL_CAPABILITIES },
  { name: 'root without SYS_RESOURCE (this CI host)', mask: '000001fffeffffff', want: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE') },
  { name: 'bits above the known caps are ignored', mask: 'ffffffffffffffff', want: ALL_CAPABILITIES },
];
for (const c of cases) test(`parseCapabilityMask: ${c.name}`, () => assert.deepEqual(parseCapabilityMask(c.mask), c.want));

test('parseCapabilityMask rejects garbage', () => assert.throws(() => parseCapabilityMask('xyz'), InternalError));

test('readHostCapabilities reads CapBnd', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hostcaps-'));
  try {
    const file = path.join(dir, 'status');
    await fs.writeFile(file, 'Name:\tnode\nCapPrm:\t0000000000000000\nCapBnd:\t0000000000000003\nCapAmb:\t0\n');
    assert.deepEqual(await readHostCapabilities(file), ['CAP_CHOWN', 'CAP_DAC_OVERRIDE']);
    await fs.writeFile(file, 'Name:\tnode\n');
    await assert.rejects(readHostCapabilities(file), InternalError);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
