import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeOutcome, type SessionOutcome } from './status';

const cases: Array<{ name: string; protocol: string; outcome: SessionOutcome; expect: unknown }> = [
  { name: 'v4 success', protocol: 'v4.channel.k8s.io', outcome: { exitCode: 0 }, expect: { metadata: {}, status: 'Success' } },
  {
    name: 'v5 exit code 3 (client-go reads details.causes ExitCode)',
    protocol: 'v5.channel.k8s.io',
    outcome: { exitCode: 3 },
    expect: {
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: exit status 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    },
  },
  {
    name: 'v4 internal error',
    protocol: 'v4.channel.k8s.io',
    outcome: { error: 'boom' },
    expect: {
      metadata: {},
      status: 'Failure',
      message: 'Internal error occurred: error executing command in container: boom',
      reason: 'InternalError',
      code: 500,
      details: { causes: [{ message: 'error executing command in container: boom' }] },
    },
  },
  { name: 'v2 success writes nothing', protocol: 'v2.channel.k8s.io', outcome: { exitCode: 0 }, expect: undefined },
  { name: 'v1 exit code is text', protocol: 'channel.k8s.io', outcome: { exitCode: 2 }, expect: 'command terminated with non-zero exit code: exit status 2' },
];

for (const c of cases) {
  test(c.name, () => {
    const out = encodeOutcome(c.protocol, c.outcome);
    const decoded = out === undefined ? undefined : c.protocol.startsWith('v4') || c.protocol.startsWith('v5') ? JSON.parse(out.toString()) : out.toString();
    assert.deepEqual(decoded, c.expect);
  });
}
