import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import { buildCdiRegistry, resolveCdiRequests } from './cdi-registry';
import type { CdiContainerEdits, CdiSpec } from './cdi-spec';

function spec(path: string, priority: number, kind: string, devices: Record<string, string>, global?: string): CdiSpec {
  const [vendor = '', cls = ''] = kind.split('/');
  const edits = (v: string): CdiContainerEdits => ({ env: [`FROM=${v}`] });
  return {
    path,
    priority,
    vendor,
    cls,
    doc: {
      cdiVersion: '0.6.0',
      kind,
      devices: Object.entries(devices).map(([name, v]) => ({ name, containerEdits: edits(v) })),
      ...(global ? { containerEdits: edits(global) } : {}),
    },
  };
}

const env = (r: ReturnType<typeof resolveCdiRequests>): string[] => r.edits.flatMap((e) => e.edits.env ?? []);

const cases: { name: string; specs: CdiSpec[]; request: string[]; devices?: string[]; env?: string[]; error?: [new (...a: never[]) => Error, RegExp] }[] = [
  {
    name: 'spec edits come once, before the first device of the spec',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'g0', g1: 'g1' }, 'spec')],
    request: ['v.com/gpu=g1', 'v.com/gpu=g0'],
    devices: ['v.com/gpu=g1', 'v.com/gpu=g0'],
    env: ['FROM=spec', 'FROM=g1', 'FROM=g0'],
  },
  {
    name: 'a later directory overrides a device',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'etc' }), spec('/var/run/cdi/a.yaml', 1, 'v.com/gpu', { g0: 'run' })],
    request: ['v.com/gpu=g0'],
    env: ['FROM=run'],
  },
  {
    name: 'the same device twice in one directory is a conflict naming both files',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'a' }), spec('/etc/cdi/b.yaml', 0, 'v.com/gpu', { g0: 'b' })],
    request: ['v.com/gpu=g0'],
    error: [FailedPreconditionError, /"v.com\/gpu=g0" is defined by conflicting specs .*\/etc\/cdi\/a.yaml, \/etc\/cdi\/b.yaml/],
  },
  {
    name: 'a later directory resolves a conflict of an earlier one',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'a' }), spec('/etc/cdi/b.yaml', 0, 'v.com/gpu', { g0: 'b' }), spec('/run/cdi/c.yaml', 1, 'v.com/gpu', { g0: 'c' })],
    request: ['v.com/gpu=g0'],
    env: ['FROM=c'],
  },
  {
    name: 'duplicate requests count once',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'g0' })],
    request: ['v.com/gpu=g0', 'v.com/gpu=g0'],
    devices: ['v.com/gpu=g0'],
  },
  {
    name: '=all expands to every device of the kind by name',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g1: 'g1', g0: 'g0' }), spec('/etc/cdi/b.yaml', 0, 'v.com/fpga', { f0: 'f0' })],
    request: ['v.com/gpu=all'],
    devices: ['v.com/gpu=g0', 'v.com/gpu=g1'],
  },
  {
    name: 'a device named "all" is taken as it is',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'g0', all: 'all' })],
    request: ['v.com/gpu=all'],
    devices: ['v.com/gpu=all'],
  },
  {
    name: 'an unknown device names the directories and the files that failed',
    specs: [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'g0' })],
    request: ['v.com/gpu=g9'],
    error: [NotFoundError, /"v.com\/gpu=g9" is not defined by any CDI spec in \/etc\/cdi, \/var\/run\/cdi; spec files that failed to load: \/etc\/cdi\/bad.yaml: broken/],
  },
  {
    name: 'an unqualified name',
    specs: [],
    request: ['gpu0'],
    error: [InvalidArgumentError, /unqualified device "gpu0", missing vendor/],
  },
];
for (const c of cases) {
  test(`CDI resolution: ${c.name}`, () => {
    const reg = buildCdiRegistry(['/etc/cdi', '/var/run/cdi'], c.specs, [{ path: '/etc/cdi/bad.yaml', message: 'broken' }]);
    if (c.error) {
      const [cls, re] = c.error;
      assert.throws(() => resolveCdiRequests(reg, c.request), (err: unknown) => err instanceof cls && re.test((err as Error).message));
      return;
    }
    const r = resolveCdiRequests(reg, c.request);
    if (c.devices) assert.deepEqual(r.devices, c.devices);
    if (c.env) assert.deepEqual(env(r), c.env);
  });
}

test('edit sources name the device and its spec file', () => {
  const reg = buildCdiRegistry(['/etc/cdi'], [spec('/etc/cdi/a.yaml', 0, 'v.com/gpu', { g0: 'g0' }, 's')], []);
  assert.deepEqual(
    resolveCdiRequests(reg, ['v.com/gpu=g0']).edits.map((e) => e.source),
    ['CDI spec /etc/cdi/a.yaml (for device "v.com/gpu=g0")', 'CDI device "v.com/gpu=g0" (spec /etc/cdi/a.yaml)'],
  );
});
