import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReference } from './reference';
import { lookasideSignatureUrl, parseRegistriesDFile, useSigstoreAttachments, type RegistriesD } from './registries-d';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function conf(...files: string[]): RegistriesD {
  const c: RegistriesD = { defaultDocker: {}, docker: new Map() };
  const seen: { file?: string } = {};
  files.forEach((text, i) => parseRegistriesDFile(text, `f${i}.yaml`, c, seen));
  return c;
}

const c = conf(
  'default-docker:\n  lookaside: https://sigs.example.com/base/\n',
  'docker:\n  quay.io/team:\n    sigstore: file:///var/sigs\n    use-sigstore-attachments: true\n  quay.io/team/app:\n    use-sigstore-attachments: false\n',
);
const cases: { name: string; ref: string; url: string; attachments: boolean }[] = [
  { name: 'default lookaside', ref: 'docker.io/library/busybox', url: `https://sigs.example.com/base/library/busybox@sha256=${'ab'.repeat(32)}/signature-1`, attachments: false },
  { name: 'namespace scope (old key name)', ref: 'quay.io/team/other:1', url: `file:///var/sigs/team/other@sha256=${'ab'.repeat(32)}/signature-1`, attachments: true },
  { name: 'unset settings fall through to a less specific scope', ref: 'quay.io/team/app:1', url: `file:///var/sigs/team/app@sha256=${'ab'.repeat(32)}/signature-1`, attachments: false },
];
for (const x of cases) {
  test(`registries.d: ${x.name}`, () => {
    const ref = parseReference(x.ref);
    assert.equal(lookasideSignatureUrl(c, ref, DIGEST, 0).href, x.url);
    assert.equal(useSigstoreAttachments(c, ref), x.attachments);
  });
}

test('registries.d: no configuration means the builtin lookaside dir', () => {
  assert.equal(lookasideSignatureUrl(conf(), parseReference('x.io/a/b'), DIGEST, 2).href, `file:///var/lib/containers/sigstore/a/b@sha256=${'ab'.repeat(32)}/signature-3`);
});

const bad: { name: string; files: string[]; want: RegExp }[] = [
  { name: 'two default-docker', files: ['default-docker: {}', 'default-docker: {}'], want: /default-docker is also defined in f0.yaml/ },
  { name: 'scope twice', files: ['docker:\n  a.io: {}', 'docker:\n  a.io: {}'], want: /docker scope "a.io" is defined twice/ },
  { name: 'both key names', files: ['default-docker:\n  lookaside: a\n  sigstore: b'], want: /both lookaside and sigstore/ },
  { name: 'attachments not boolean', files: ['default-docker:\n  use-sigstore-attachments: yes please'], want: /must be true or false/ },
  { name: 'invalid YAML', files: ['a: [b'], want: /invalid YAML/ },
];
for (const b of bad) test(`registries.d rejects ${b.name}`, () => assert.throws(() => conf(...b.files), b.want));
