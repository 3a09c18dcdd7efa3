import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, NotFoundError } from '../errors';
import { fillCdiDeviceNodes } from './cdi-host';
import type { CdiDeviceNode } from './cdi-spec';

const fill = async (n: CdiDeviceNode): Promise<CdiDeviceNode | undefined> => (await fillCdiDeviceNodes([{ edits: { deviceNodes: [n] }, source: 'CDI device "v.com/c=d" (spec /s.yaml)' }]))[0]?.edits.deviceNodes?.[0];

const cases: { name: string; node: CdiDeviceNode; want?: Partial<CdiDeviceNode>; error?: [new (...a: never[]) => Error, RegExp] }[] = [
  { name: 'type, numbers and mode from the host node', node: { path: '/dev/vendor0', hostPath: '/dev/null' }, want: { path: '/dev/vendor0', hostPath: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666 } },
  { name: 'the host path defaults to the path', node: { path: '/dev/zero' }, want: { hostPath: '/dev/zero', type: 'c', major: 1, minor: 5 } },
  { name: 'a given file mode is kept', node: { path: '/dev/null', fileMode: 0o640 }, want: { fileMode: 0o640 } },
  { name: 'a fully described node needs no host node', node: { path: '/dev/loop8', type: 'b', major: 7, minor: 8 }, want: { type: 'b', major: 7, minor: 8, fileMode: undefined } },
  { name: 'a missing host node', node: { path: '/dev/nope-crio-ts' }, error: [NotFoundError, /v.com\/c=d.*"\/dev\/nope-crio-ts": it does not exist/] },
  { name: 'a type that differs from the host', node: { path: '/dev/null', type: 'b' }, error: [FailedPreconditionError, /has type b but host device "\/dev\/null" has type c/] },
  { name: 'a regular file', node: { path: '/etc/hostname' }, error: [FailedPreconditionError, /is not a device node/] },
];
for (const c of cases) {
  test(`CDI host facts: ${c.name}`, async () => {
    if (c.error) {
      const [cls, re] = c.error;
      await assert.rejects(fill(c.node), (err: unknown) => err instanceof cls && re.test((err as Error).message));
      return;
    }
    const got = await fill(c.node);
    for (const [k, v] of Object.entries(c.want ?? {})) assert.deepEqual(got?.[k as keyof CdiDeviceNode], v, k);
  });
}
