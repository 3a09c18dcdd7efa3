import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailedPreconditionError, NotFoundError, UnimplementedError } from '../errors';
import { chainIds, parseImageConfig, parseManifest, selectPlatform, sha256Digest, type ImageIndex, type Platform } from './manifest';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from './media-types';

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);
const C = 'sha256:' + 'c'.repeat(64);
const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const manifestDoc = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemaVersion: 2,
  config: { mediaType: OCI_CONFIG, digest: A, size: 10 },
  layers: [{ mediaType: OCI_LAYER_GZIP, digest: B, size: 20 }],
  ...extra,
});

const kindCases: { name: string; doc: unknown; contentType?: string; kind: 'manifest' | 'index'; mediaType: string }[] = [
  { name: 'OCI manifest by field', doc: manifestDoc({ mediaType: OCI_MANIFEST }), kind: 'manifest', mediaType: OCI_MANIFEST },
  { name: 'Docker manifest by header', doc: manifestDoc(), contentType: `${DOCKER_MANIFEST}; charset=utf-8`, kind: 'manifest', mediaType: DOCKER_MANIFEST },
  { name: 'manifest by shape', doc: manifestDoc(), contentType: 'application/json', kind: 'manifest', mediaType: OCI_MANIFEST },
  { name: 'Docker list', doc: { schemaVersion: 2, mediaType: DOCKER_MANIFEST_LIST, manifests: [] }, kind: 'index', mediaType: DOCKER_MANIFEST_LIST },
  { name: 'index by shape', doc: { schemaVersion: 2, manifests: [] }, kind: 'index', mediaType: OCI_INDEX },
];

for (const c of kindCases) {
  test(`parseManifest: ${c.name}`, () => {
    const got = parseManifest(enc(c.doc), c.contentType);
    assert.equal(got.kind, c.kind);
    assert.equal(got.kind === 'manifest' ? got.manifest.mediaType : got.index.mediaType, c.mediaType);
  });
}

const badCases: { name: string; bytes: Buffer; contentType?: string; error: new (...a: never[]) => Error; message: RegExp }[] = [
  { name: 'not JSON', bytes: Buffer.from('{'), error: FailedPreconditionError, message: /not JSON/ },
  { name: 'schema1 by version', bytes: enc({ schemaVersion: 1, fsLayers: [] }), error: UnimplementedError, message: /schema 1/ },
  { name: 'schema1 by header', bytes: enc(manifestDoc()), contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws', error: UnimplementedError, message: /schema 1/ },
  { name: 'bad digest', bytes: enc(manifestDoc({ config: { mediaType: OCI_CONFIG, digest: 'sha256:xyz', size: 1 } })), error: FailedPreconditionError, message: /config\.digest "sha256:xyz"/ },
  { name: 'negative size', bytes: enc(manifestDoc({ layers: [{ mediaType: OCI_LAYER_GZIP, digest: B, size: -1 }] })), error: FailedPreconditionError, message: /layers\[0\]\.size/ },
  { name: 'artifact config', bytes: enc(manifestDoc({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: A, size: 1 } })), error: UnimplementedError, message: /OCI artifact/ },
];

for (const c of badCases) {
  test(`parseManifest rejects: ${c.name}`, () => {
    assert.throws(() => parseManifest(c.bytes, c.contentType), (err: unknown) => err instanceof c.error && c.message.test(err.message));
  });
}

const entry = (digest: string, platform: Platform): { mediaType: string; digest: string; size: number; platform: Platform } => ({ mediaType: OCI_MANIFEST, digest, size: 1, platform });
const index: ImageIndex = {
  mediaType: OCI_INDEX,
  manifests: [
    entry(A, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry(B, { os: 'linux', architecture: 'amd64' }),
    entry(C, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
  ],
};

const platformCases: { name: string; want: Platform; digest?: string }[] = [
  { name: 'amd64', want: { os: 'linux', architecture: 'amd64' }, digest: B },
  { name: 'arm64 without variant matches v8', want: { os: 'linux', architecture: 'arm64' }, digest: C },
  { name: 'arm v7 runs v6', want: { os: 'linux', architecture: 'arm', variant: 'v7' }, digest: A },
  { name: 'arm v5 cannot run v6', want: { os: 'linux', architecture: 'arm', variant: 'v5' } },
  { name: 'windows absent', want: { os: 'windows', architecture: 'amd64' } },
];

for (const c of platformCases) {
  test(`selectPlatform: ${c.name}`, () => {
    if (c.digest) assert.equal(selectPlatform(index, c.want).digest, c.digest);
    else assert.throws(() => selectPlatform(index, c.want), (err: unknown) => err instanceof NotFoundError && /linux\/amd64/.test(err.message));
  });
}

test('parseImageConfig extracts the container config and diff_ids', () => {
  const cfg = parseImageConfig(
    enc({
      architecture: 'amd64',
      os: 'linux',
      config: { User: '1000:1000', Env: ['PATH=/bin'], Entrypoint: ['/init'], Cmd: null, WorkingDir: '/w', StopSignal: 'SIGINT', Volumes: { '/b': {}, '/a': {} }, Labels: { k: 'v' }, ExposedPorts: { '80/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [A, B] },
    }),
  );
  assert.deepEqual(cfg.config, {
    user: '1000:1000', env: ['PATH=/bin'], entrypoint: ['/init'], cmd: [], workingDir: '/w', stopSignal: 'SIGINT', volumes: ['/a', '/b'], labels: { k: 'v' }, exposedPorts: ['80/tcp'],
  });
  assert.deepEqual(cfg.diffIds, [A, B]);
});

test('parseImageConfig rejects a config without layers rootfs', () => {
  assert.throws(() => parseImageConfig(enc({ rootfs: { type: 'x', diff_ids: [] } })), /invalid image config: rootfs\.type/);
});

test('chainIds follows the OCI definition', () => {
  const ids = chainIds([A, B, C]);
  assert.equal(ids[0], A);
  assert.equal(ids[1], sha256Digest(`${A} ${B}`));
  assert.equal(ids[2], sha256Digest(`${sha256Digest(`${A} ${B}`)} ${C}`));
  assert.deepEqual(chainIds([]), []);
});
