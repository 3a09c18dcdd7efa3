import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { Key } from 'openpgp' with { 'resolution-mode': 'import' };
import { isDigest } from './reference';

/**
 * Cryptographic checks of the two signature formats c/image verifies for pulls, with the
 * payload parsed as strictly as c/image does:
 * - "simple signing": an OpenPGP signed message (gpg --sign) whose literal data is the JSON
 *   payload `{critical: {type: "atomic container signature", image, identity}, optional}`,
 *   verified with the `openpgp` package;
 * - sigstore/cosign: a base64 signature over the payload blob of a `.sig` attachment
 *   (`type: "cosign container image signature"`), verified with node:crypto and a PEM key.
 * Both return the claims only when the signature is valid for one of the trusted keys.
 */

/** What a valid signature vouches for. */
export interface SignatureClaims {
  manifestDigest: string;
  dockerReference: string;
}

/** Payload types. */
export const SIMPLE_SIGNING_TYPE = 'atomic container signature';
/** Payload type of cosign signatures. */
export const COSIGN_TYPE = 'cosign container image signature';

/** Thrown for a signature that is not acceptable; the message says why. */
export class SignatureRejected extends Error {}

/** Parses and checks a payload of `type`; SignatureRejected when malformed. */
export function parsePayload(bytes: Uint8Array, type: string): SignatureClaims {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new SignatureRejected('signature payload is not JSON');
  }
  const critical = (doc as { critical?: unknown } | null)?.critical as Record<string, unknown> | undefined;
  if (typeof critical !== 'object' || critical === null) throw new SignatureRejected('signature payload has no "critical" section');
  if (critical.type !== type) throw new SignatureRejected(`signature payload type is ${JSON.stringify(critical.type)}, want "${type}"`);
  const digest = (critical.image as Record<string, unknown> | undefined)?.['docker-manifest-digest'];
  const ref = (critical.identity as Record<string, unknown> | undefined)?.['docker-reference'];
  if (typeof digest !== 'string' || !isDigest(digest)) throw new SignatureRejected('signature payload has no valid docker-manifest-digest');
  if (typeof ref !== 'string' || ref === '') throw new SignatureRejected('signature payload has no docker-reference');
  return { manifestDigest: digest, dockerReference: ref };
}

/** Reads OpenPGP public keys from keyring files (armored or binary) and base64 keyData. */
export async function loadGpgKeys(keyPaths: readonly string[], keyDatas: readonly string[]): Promise<Key[]> {
  const openpgp = await import('openpgp');
  const blobs: Uint8Array[] = [...(await Promise.all(keyPaths.map((p) => fs.readFile(p)))), ...keyDatas.map((d) => Buffer.from(d, 'base64'))];
  const keys: Key[] = [];
  for (const b of blobs) {
    const text = Buffer.from(b).toString('utf8');
    keys.push(...(text.includes('-----BEGIN PGP') ? await openpgp.readKeys({ armoredKeys: text }) : await openpgp.readKeys({ binaryKeys: b })));
  }
  return keys;
}

/** Verifies a simple-signing signature with the trusted keys; returns the claims. */
export async function verifySimpleSigning(signature: Uint8Array, keys: Key[]): Promise<SignatureClaims> {
  const openpgp = await import('openpgp');
  let data: Uint8Array;
  try {
    const message = await openpgp.readMessage({ binaryMessage: signature });
    const result = await openpgp.verify({ message, verificationKeys: keys, format: 'binary', expectSigned: true });
    data = result.data;
  } catch (err) {
    throw new SignatureRejected(`GPG signature not valid for any trusted key: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parsePayload(data, SIMPLE_SIGNING_TYPE);
}

/** Reads PEM public keys (files and base64-encoded PEM data). */
export async function loadPemKeys(keyPaths: readonly string[], keyDatas: readonly string[]): Promise<KeyObject[]> {
  const pems = [...(await Promise.all(keyPaths.map((p) => fs.readFile(p, 'utf8')))), ...keyDatas.map((d) => Buffer.from(d, 'base64').toString('utf8'))];
  const keys: KeyObject[] = [];
  for (const pem of pems) {
    for (const block of pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []) keys.push(createPublicKey(block));
  }
  return keys;
}

/** Verifies a cosign signature (base64) over `payload`; returns the claims. */
export function verifyCosign(payload: Uint8Array, signatureB64: string, keys: readonly KeyObject[]): SignatureClaims {
  const sig = Buffer.from(signatureB64, 'base64');
  const ok = keys.some((key) => {
    try {
      // ECDSA signatures are ASN.1 DER (node's default); Ed25519 signs the message itself.
      return cryptoVerify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', payload, key, sig);
    } catch {
      return false;
    }
  });
  if (!ok) throw new SignatureRejected('cosign signature not valid for any trusted key');
  return parsePayload(payload, COSIGN_TYPE);
}
