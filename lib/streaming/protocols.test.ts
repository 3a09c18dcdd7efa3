import assert from 'node:assert/strict';
import { test } from 'node:test';
import { negotiate, offeredProtocols, REMOTECOMMAND_SPDY_PROTOCOLS, REMOTECOMMAND_WS_PROTOCOLS, statusIsJson, supportsResize } from './protocols';

const cases: Array<{ name: string; header: string | string[] | undefined; supported: readonly string[]; expect: string | undefined }> = [
  // Go sends one header line per protocol; Node joins repeated headers with ", ".
  { name: 'kubectl SPDY offer picks v4', header: 'v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io', supported: REMOTECOMMAND_SPDY_PROTOCOLS, expect: 'v4.channel.k8s.io' },
  { name: 'client order wins', header: ['v2.channel.k8s.io', 'v4.channel.k8s.io'], supported: REMOTECOMMAND_SPDY_PROTOCOLS, expect: 'v2.channel.k8s.io' },
  { name: 'WebSocket v5', header: 'v5.channel.k8s.io,v4.channel.k8s.io', supported: REMOTECOMMAND_WS_PROTOCOLS, expect: 'v5.channel.k8s.io' },
  { name: 'no common protocol', header: 'v9.channel.k8s.io', supported: REMOTECOMMAND_SPDY_PROTOCOLS, expect: undefined },
  { name: 'no offer at all', header: undefined, supported: REMOTECOMMAND_SPDY_PROTOCOLS, expect: undefined },
];

for (const c of cases) {
  test(c.name, () => assert.equal(negotiate(offeredProtocols(c.header), c.supported), c.expect));
}

test('protocol features', () => {
  assert.deepEqual(
    REMOTECOMMAND_SPDY_PROTOCOLS.map((p) => [p, statusIsJson(p), supportsResize(p, false)]),
    [
      ['v4.channel.k8s.io', true, true],
      ['v3.channel.k8s.io', false, true],
      ['v2.channel.k8s.io', false, false],
      ['channel.k8s.io', false, false],
    ],
  );
  assert.equal(supportsResize('channel.k8s.io', true), true);
  assert.equal(statusIsJson('v5.channel.k8s.io'), true);
});
