import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { OpContext } from '../context';
import { errnoCode, FailedPreconditionError, NotFoundError } from '../errors';
import { sha256Digest } from './manifest';
import type { PullSource } from './pull-sources';
import { isDigest, type ImageReference } from './reference';
import { lookasideSignatureUrl, type RegistriesD } from './registries-d';
import type { AuthConfig } from './registry-auth';
import type { RegistryClient } from './registry-client';
import { discardBody, httpRequest, readBody } from './registry-http';

/**
 * Getting signatures of a manifest: simple signatures from the lookaside (`signature-1`,
 * `signature-2`, … under file:// or http(s):// until the first missing one, c/image's
 * protocol) and cosign signatures from the `sha256-<hex>.sig` tag of the same repository.
 */

/** Signatures larger than this are refused (c/image's limit). */
const MAX_SIGNATURE_BYTES = 4 * 1024 * 1024;
/** Stop after this many lookaside signatures. */
const MAX_SIGNATURES = 128;
const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** A cosign signature: the payload blob and the base64 signature over it. */
export interface CosignSignature {
  payload: Buffer;
  signature: string;
}

/** Where the signatures of one manifest are: the physical repository it is pulled from. */
export interface SignatureLocation {
  /** Physical host + repository as an ImageReference (for registries.d scope lookup). */
  ref: ImageReference;
  source: PullSource;
  auth: AuthConfig | undefined;
}

async function readOne(url: URL, ctx: OpContext): Promise<Buffer | undefined> {
  if (url.protocol === 'file:') {
    try {
      return await fs.readFile(fileURLToPath(url));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FailedPreconditionError(`lookaside ${url.href}: unsupported URL scheme`);
  const res = await httpRequest(url, { signal: ctx.signal });
  if (res.statusCode === 404) {
    discardBody(res);
    return undefined;
  }
  if (res.statusCode !== 200) {
    discardBody(res);
    throw new FailedPreconditionError(`reading signature ${url.href}: HTTP ${res.statusCode ?? 0}`);
  }
  return readBody(res, url.host, MAX_SIGNATURE_BYTES, `signature ${url.href}`);
}

/** Simple signatures of `manifestDigest` from the lookaside. */
export async function lookasideSignatures(conf: RegistriesD, loc: SignatureLocation, manifestDigest: string, ctx: OpContext): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < MAX_SIGNATURES; i++) {
    const sig = await readOne(lookasideSignatureUrl(conf, loc.ref, manifestDigest, i), ctx);
    if (!sig) break;
    out.push(sig);
  }
  return out;
}

/** Cosign signatures attached to `manifestDigest` (none when the `.sig` tag does not exist). */
export async function sigstoreSignatures(client: RegistryClient, loc: SignatureLocation, manifestDigest: string, ctx: OpContext): Promise<CosignSignature[]> {
  const tag = `sha256-${manifestDigest.slice('sha256:'.length)}.sig`;
  let fetched;
  try {
    fetched = await client.getManifest({ ...loc.source, reference: tag }, loc.auth, ctx);
  } catch (err) {
    if (err instanceof NotFoundError) return [];
    throw err;
  }
  const out: CosignSignature[] = [];
  for (const layer of sigLayers(fetched.bytes)) {
    const signature = layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    if (!signature) continue;
    const body = await client.getBlob(loc.source, layer.digest, loc.auth, ctx);
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of body) {
      n += (c as Buffer).length;
      if (n > MAX_SIGNATURE_BYTES) throw new FailedPreconditionError(`signature payload ${layer.digest} is larger than ${MAX_SIGNATURE_BYTES} bytes`);
      chunks.push(c as Buffer);
    }
    const payload = Buffer.concat(chunks);
    if (sha256Digest(payload) !== layer.digest) throw new FailedPreconditionError(`signature payload ${layer.digest} in ${tag}: digest mismatch`);
    out.push({ payload, signature });
  }
  return out;
}

/** The layers of a `.sig` manifest (its config is not an image config, so it is read loosely). */
function sigLayers(bytes: Buffer): { digest: string; annotations?: Record<string, string> }[] {
  let doc: { layers?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as { layers?: unknown };
  } catch {
    return [];
  }
  if (!Array.isArray(doc.layers)) return [];
  return doc.layers.filter((l): l is { digest: string; annotations?: Record<string, string> } => typeof l === 'object' && l !== null && typeof (l as { digest?: unknown }).digest === 'string' && isDigest((l as { digest: string }).digest));
}
