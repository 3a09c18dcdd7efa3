import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultPoint, inFaultScope, parseFaultSpec } from './fault-points';

const cases: { value: string | undefined; want: ReturnType<typeof parseFaultSpec> | RegExp }[] = [
  { value: undefined, want: undefined },
  { value: '', want: undefined },
  { value: 'trace', want: { mode: 'trace', nth: 0 } },
  { value: 'sandbox-stop:network-removed', want: { mode: 'kill', rpc: undefined, point: 'sandbox-stop:network-removed', nth: 1 } },
  { value: 'cni-del:plugin-deleted@2', want: { mode: 'kill', rpc: undefined, point: 'cni-del:plugin-deleted', nth: 2 } },
  { value: 'StopPodSandbox/pod-ns:unmounted@3', want: { mode: 'kill', rpc: 'StopPodSandbox', point: 'pod-ns:unmounted', nth: 3 } },
  { value: 'no-colon', want: /is not \[<Rpc>\/\]<area>:<step>\[@<n>\] or "trace"/ },
  { value: 'a:b@0', want: /is not/ },
  { value: 'Rpc/a:b@x', want: /is not/ },
];
for (const c of cases) {
  test(`parseFaultSpec ${JSON.stringify(c.value)}`, () => {
    if (c.want instanceof RegExp) assert.throws(() => parseFaultSpec(c.value), c.want);
    else assert.deepEqual(parseFaultSpec(c.value), c.want);
  });
}

test('unarmed (the test process has no CRIO_TS_FAULT_POINT): points do nothing, scopes just run', () => {
  assert.equal(process.env['CRIO_TS_FAULT_POINT'], undefined);
  faultPoint('sandbox-stop:network-removed');
  assert.equal(
    inFaultScope('StopPodSandbox', () => 42),
    42,
  );
});
