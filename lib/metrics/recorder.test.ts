import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, NotFoundError, UnavailableError } from '../errors';
import { selectCollectors } from './collectors';
import { pullFailureLabel, sizeBucket } from './recorder';

test('pullFailureLabel: the registry error code, then connection refused/timeout, not found, else UNKNOWN', () => {
  const cases: Array<[unknown, string]> = [
    [new NotFoundError('manifest for r/x:1 not found: MANIFEST_UNKNOWN: manifest unknown'), 'MANIFEST_UNKNOWN'],
    [new FailedPreconditionError('unauthorized: access to manifest denied (HTTP 401): UNAUTHORIZED: authentication required'), 'UNAUTHORIZED'],
    [new UnavailableError('registry 127.0.0.1:1 unavailable: connect ECONNREFUSED 127.0.0.1:1'), 'CONNECTION_REFUSED'],
    [new UnavailableError('registry r unavailable: no data for 60000 ms'), 'CONNECTION_TIMEOUT'],
    [new NotFoundError('blob sha256:ab in r/x not found'), 'NOT_FOUND'],
    [new Error('something else'), 'UNKNOWN'],
    ['a string', 'UNKNOWN'],
  ];
  for (const [err, label] of cases) assert.equal(pullFailureLabel(err), label, String(err));
});

test('sizeBucket: CRI-O\'s decimal buckets, "greater than" names', () => {
  const cases: Array<[number, string]> = [
    [0, '>0 B'],
    [1000, '>0 B'],
    [1001, '>1 KiB'],
    [2_000_000, '>1 MiB'],
    [60e6, '>50 MiB'],
    [2e9, '>1 GiB'],
    [11e9, '>10 GiB'],
  ];
  for (const [size, name] of cases) assert.equal(sizeBucket(size), name, String(size));
});

test('selectCollectors: prefixes stripped; missing features and unknown names warned about', () => {
  const { enabled, warnings } = selectCollectors(['operations_total', 'crio_image_pulls_success_total', 'container_runtime_crio_containers_oom_total', 'resources_stalled_at_stage', 'nope']);
  assert.deepEqual([...enabled].sort(), ['containers_oom_total', 'image_pulls_success_total', 'operations_total']);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /"resources_stalled_at_stage" is not collected by crio-ts/);
  assert.match(warnings[1], /unknown collector "nope"/);
});
