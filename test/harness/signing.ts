import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { TestRegistry } from './registry';
import { sha256 } from './test-images';

/**
 * Image signatures made by tests with keys they generate: GPG "simple signing" signatures
 * (openpgp, written in lookaside layout `<dir>/<repo>@sha256=<hex>/signature-N`) and cosign
 * public-key signatures (ECDSA P-256 over the payload, pushed as the `sha256-<hex>.sig` tag).
 * No top-level side effects.
 */

/** An OpenPGP key pair, armored. */
export interface GpgKey {
  publicKey: string;
  privateKey: string;
}

/** Generates a GPG key (ECC, openpgp's default) for `name`. */
export async function generateGpgKey(name: string): Promise<GpgKey> {
  const openpgp = await import('openpgp');
  const { publicKey, privateKey } = await openpgp.generateKey({ userIDs: [{ name, email: `${name}@crio-ts.test` }], format: 'armored' });
  return { publicKey, privateKey };
}

/** The payload c/image signs: `type` selects simple signing or cosign. */
export function signaturePayload(type: 'atomic container signature' | 'cosign container image signature', manifestDigest: string, dockerReference: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type },
      optional: type === 'atomic container signature' ? { creator: 'crio-ts tests', timestamp: 0 } : null,
    }),
  );
}

/** A binary OpenPGP signed message over the simple-signing payload (what `gpg --sign` writes). */
export async function simpleSignature(key: GpgKey, manifestDigest: string, dockerReference: string): Promise<Buffer> {
  const openpgp = await import('openpgp');
  const signingKeys = await openpgp.readPrivateKey({ armoredKey: key.privateKey });
  const message = await openpgp.createMessage({ binary: signaturePayload('atomic container signature', manifestDigest, dockerReference) });
  return Buffer.from(await openpgp.sign({ message, signingKeys, format: 'binary' }));
}

/** Writes signatures for `repoPath@manifestDigest` under a lookaside directory (replacing any). */
export async function writeLookaside(dir: string, repoPath: string, manifestDigest: string, signatures: Buffer[]): Promise<void> {
  const d = path.join(dir, `${repoPath}@sha256=${manifestDigest.replace(/^sha256:/, '')}`);
  await fs.rm(d, { recursive: true, force: true });
  await fs.mkdir(d, { recursive: true });
  for (const [i, s] of signatures.entries()) await fs.writeFile(path.join(d, `signature-${i + 1}`), s);
}

/** A cosign key pair. */
export interface CosignKey {
  privateKey: KeyObject;
  publicKeyPem: string;
}

/** Generates an ECDSA P-256 key, as `cosign generate-key-pair` does. */
export function generateCosignKey(): CosignKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Pushes a cosign signature of `manifestDigest` claiming `dockerReference` to `repo`'s `.sig` tag. */
export async function pushCosignSignature(registry: TestRegistry, repo: string, key: CosignKey, manifestDigest: string, dockerReference: string): Promise<void> {
  const payload = signaturePayload('cosign container image signature', manifestDigest, dockerReference);
  const signature = sign('sha256', payload, key.privateKey).toString('base64');
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(payload)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: sha256(payload),
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': signature },
        },
      ],
    }),
  );
  await registry.pushBlob(repo, sha256(payload), payload);
  await registry.pushBlob(repo, sha256(config), config);
  await registry.pushManifest(repo, `sha256-${manifestDigest.replace(/^sha256:/, '')}.sig`, 'application/vnd.oci.image.manifest.v1+json', manifest);
}
