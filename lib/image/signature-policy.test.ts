import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReference } from './reference';
import { identityMatches } from './signature-identity';
import { parsePolicy, policyScopes, requirementsFor, type SignedIdentity } from './signature-policy';

test('policyScopes: most specific first, wildcards without the port', () => {
  assert.deepEqual(policyScopes(parseReference('reg.example.com:5000/ns/app:v1')), [
    'reg.example.com:5000/ns/app:v1',
    'reg.example.com:5000/ns/app',
    'reg.example.com:5000/ns',
    'reg.example.com:5000',
    '*.example.com',
    '*.com',
  ]);
});

const policy = parsePolicy(
  JSON.stringify({
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        '': [{ type: 'insecureAcceptAnything' }],
        'quay.io/signed': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k.gpg' }],
        'quay.io/signed:special': [{ type: 'reject' }],
        '*.internal.test': [{ type: 'sigstoreSigned', keyData: 'UEVN', signedIdentity: { type: 'matchRepository' } }],
      },
      'docker-daemon': { '': [{ type: 'reject' }] },
    },
  }),
  'p.json',
);
const scopeCases: { name: string; ref: string; scope: string; type: string }[] = [
  { name: 'repository scope', ref: 'quay.io/signed:v1', scope: 'quay.io/signed', type: 'signedBy' },
  { name: 'tag scope beats repository', ref: 'quay.io/signed:special', scope: 'quay.io/signed:special', type: 'reject' },
  { name: 'wildcard', ref: 'reg.internal.test/a/b', scope: '*.internal.test', type: 'sigstoreSigned' },
  { name: 'transport default', ref: 'docker.io/library/busybox', scope: '', type: 'insecureAcceptAnything' },
];
for (const c of scopeCases) {
  test(`requirementsFor: ${c.name}`, () => {
    const got = requirementsFor(policy, parseReference(c.ref));
    assert.equal(got.scope, c.scope);
    assert.equal(got.requirements[0]?.type, c.type);
  });
}

test('global default applies without a docker default', () => {
  const p = parsePolicy('{"default":[{"type":"reject"}]}', 'p');
  assert.equal(requirementsFor(p, parseReference('x.io/y')).scope, 'default');
});

test('sigstoreSigned with fulcio is parsed but marked unsupported', () => {
  const p = parsePolicy(JSON.stringify({ default: [{ type: 'sigstoreSigned', fulcio: { caPath: '/ca' }, rekorPublicKeyPath: '/r' }] }), 'p');
  const r = p.default[0];
  assert.ok(r?.type === 'sigstoreSigned' && /fulcio, rekorPublicKeyPath verification is not supported/.test(r.unsupported ?? ''));
});

const badCases: { name: string; doc: unknown; want: RegExp }[] = [
  { name: 'unknown top-level field', doc: { default: [{ type: 'reject' }], extra: 1 }, want: /unknown field "extra"/ },
  { name: 'missing default', doc: {}, want: /default: want an array/ },
  { name: 'empty requirement list', doc: { default: [] }, want: /empty requirement list/ },
  { name: 'unknown requirement', doc: { default: [{ type: 'maybe' }] }, want: /unknown requirement type "maybe"/ },
  { name: 'field on reject', doc: { default: [{ type: 'reject', keyPath: '/k' }] }, want: /unknown field "keyPath"/ },
  { name: 'signedBy without keys', doc: { default: [{ type: 'signedBy', keyType: 'GPGKeys' }] }, want: /needs one of keyPath/ },
  { name: 'signedBy with two key sources', doc: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/a', keyData: 'b' }] }, want: /only one of keyPath, keyData/ },
  { name: 'signedBy X509', doc: { default: [{ type: 'signedBy', keyType: 'X509Certificates', keyPath: '/a' }] }, want: /GPGKeys only/ },
  { name: 'bad signedIdentity', doc: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/a', signedIdentity: { type: 'nope' } }] }, want: /unknown signedIdentity type "nope"/ },
  { name: 'fulcio without rekor', doc: { default: [{ type: 'sigstoreSigned', fulcio: {} }] }, want: /fulcio requires a Rekor public key/ },
  { name: 'unknown transport', doc: { default: [{ type: 'reject' }], transports: { ftp: {} } }, want: /unknown field "ftp"/ },
];
for (const c of badCases) test(`parsePolicy rejects ${c.name}`, () => assert.throws(() => parsePolicy(JSON.stringify(c.doc), 'p.json'), c.want));

const identityCases: { name: string; identity: SignedIdentity; image: string; signed: string; want: boolean }[] = [
  { name: 'repoDigestOrExact: same tag', identity: { type: 'matchRepoDigestOrExact' }, image: 'q.io/a:1', signed: 'q.io/a:1', want: true },
  { name: 'repoDigestOrExact: other tag', identity: { type: 'matchRepoDigestOrExact' }, image: 'q.io/a:1', signed: 'q.io/a:2', want: false },
  { name: 'repoDigestOrExact: by digest, any tag of the repo', identity: { type: 'matchRepoDigestOrExact' }, image: `q.io/a@sha256:${'1'.repeat(64)}`, signed: 'q.io/a:2', want: true },
  { name: 'repoDigestOrExact: by digest, other repo', identity: { type: 'matchRepoDigestOrExact' }, image: `q.io/a@sha256:${'1'.repeat(64)}`, signed: 'q.io/b:2', want: false },
  { name: 'matchExact: by digest vs tag', identity: { type: 'matchExact' }, image: `q.io/a@sha256:${'1'.repeat(64)}`, signed: 'q.io/a:2', want: false },
  { name: 'matchExact: same', identity: { type: 'matchExact' }, image: 'q.io/a:2', signed: 'q.io/a:2', want: true },
  { name: 'matchRepository', identity: { type: 'matchRepository' }, image: 'q.io/a:1', signed: 'q.io/a', want: true },
  { name: 'matchRepository: other repo', identity: { type: 'matchRepository' }, image: 'q.io/a:1', signed: 'q.io/ab', want: false },
  { name: 'exactReference', identity: { type: 'exactReference', dockerReference: 'q.io/x:1' }, image: 'mirror.io/y:9', signed: 'q.io/x:1', want: true },
  { name: 'exactRepository', identity: { type: 'exactRepository', dockerRepository: 'q.io/x' }, image: 'mirror.io/y:9', signed: 'q.io/x:3', want: true },
  { name: 'remapIdentity', identity: { type: 'remapIdentity', prefix: 'mirror.io/ns', signedPrefix: 'q.io/ns' }, image: 'mirror.io/ns/app:1', signed: 'q.io/ns/app:1', want: true },
  { name: 'remapIdentity: prefix not on a boundary', identity: { type: 'remapIdentity', prefix: 'mirror.io/n', signedPrefix: 'q.io/ns' }, image: 'mirror.io/ns/app:1', signed: 'q.io/ns/app:1', want: false },
  { name: 'garbage signed reference', identity: { type: 'matchRepository' }, image: 'q.io/a:1', signed: 'Not A Ref', want: false },
];
for (const c of identityCases) {
  test(`identityMatches: ${c.name}`, () => assert.equal(identityMatches(c.identity, parseReference(c.image), c.signed), c.want));
}
