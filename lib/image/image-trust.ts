import path from 'node:path';
import type { OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import { pathExists } from '../fsutil';
import type { ImageTrust, TrustSubject } from './pull';
import { formatReference, parseReference, type ImageReference } from './reference';
import { DEFAULT_REGISTRIES_D, loadRegistriesD, useSigstoreAttachments, type RegistriesD } from './registries-d';
import { lookasideSignatures, sigstoreSignatures, type SignatureLocation } from './signature-fetch';
import { identityMatches } from './signature-identity';
import { loadPolicy, requirementsFor, type PolicyRequirement, type SignaturePolicy } from './signature-policy';
import { loadGpgKeys, loadPemKeys, SignatureRejected, verifyCosign, verifySimpleSigning, type SignatureClaims } from './signature-verify';

/**
 * Signature policy enforcement at pull time (c/image PolicyContext.IsRunningImageAllowed, as
 * CRI-O calls it): the policy file — `<signature_policy_dir>/<namespace>.json` when it exists,
 * else `signature_policy`, else /etc/containers/policy.json — is read on every pull (so edits
 * apply at once), the most specific scope's requirements must all pass, and a refusal is a
 * FailedPreconditionError starting with `SignatureValidationFailed` and saying why.
 */

/** Where policy and signature configuration live. */
export interface PolicyTrustOptions {
  /** `[crio.image] signature_policy`; '' = /etc/containers/policy.json. */
  policyFile: string;
  /** `[crio.image] signature_policy_dir` (per-namespace policies). */
  policyDir: string;
  /** registries.d directory; default /etc/containers/registries.d. */
  registriesDir?: string;
}

/** c/image's default policy path. */
export const DEFAULT_POLICY_FILE = '/etc/containers/policy.json';

/** The message prefix the kubelet shows as the pull failure reason (CRI-O's crierrors). */
export const SIGNATURE_VALIDATION_FAILED = 'SignatureValidationFailed';

function rejected(ref: ImageReference, why: string): FailedPreconditionError {
  return new FailedPreconditionError(`${SIGNATURE_VALIDATION_FAILED}: Source image rejected: ${formatReference(ref)}: ${why}`);
}

/** Policy-based ImageTrust. */
export class PolicyTrust implements ImageTrust {
  constructor(private readonly options: PolicyTrustOptions) {}

  /**
   * The policy for a pod namespace, or undefined when no file is configured and the default
   * file is absent (crio-ts then accepts every image, where c/image would fail every pull).
   */
  async policyFor(namespace: string | undefined): Promise<SignaturePolicy | undefined> {
    const nsFile = await this.namespaceFile(namespace);
    if (nsFile !== undefined) return loadPolicy(nsFile);
    if (this.options.policyFile) return loadPolicy(this.options.policyFile);
    return (await pathExists(DEFAULT_POLICY_FILE)) ? loadPolicy(DEFAULT_POLICY_FILE) : undefined;
  }

  /** `signature_policy` is set, or `<signature_policy_dir>/<namespace>.json` exists (CRI-O's SignaturePolicyPath for the namespace). */
  async configuredExplicitly(namespace: string | undefined): Promise<boolean> {
    if (this.options.policyFile !== '') return true;
    return (await this.namespaceFile(namespace)) !== undefined;
  }

  private async namespaceFile(namespace: string | undefined): Promise<string | undefined> {
    if (!namespace || !this.options.policyDir || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(namespace)) return undefined;
    const nsFile = path.join(this.options.policyDir, `${namespace}.json`);
    return (await pathExists(nsFile)) ? nsFile : undefined;
  }

  /** Throws unless every requirement of the applicable scope accepts the image. */
  async check(subject: TrustSubject, namespace: string | undefined, ctx: OpContext): Promise<void> {
    const policy = await this.policyFor(namespace);
    if (!policy) return;
    const { scope, requirements } = requirementsFor(policy, subject.ref);
    for (const req of requirements) {
      const why = await this.evaluate(req, subject, ctx);
      if (why !== undefined) throw rejected(subject.ref, `${why} (policy ${policy.file}, scope ${JSON.stringify(scope)})`);
    }
    ctx.log.debug('image accepted by signature policy', { image: formatReference(subject.ref), policy: policy.file, scope });
  }

  /** undefined = accepted; otherwise the reason for refusing. */
  private async evaluate(req: PolicyRequirement, subject: TrustSubject, ctx: OpContext): Promise<string | undefined> {
    switch (req.type) {
      case 'insecureAcceptAnything':
        return undefined;
      case 'reject':
        return 'Running image is rejected by policy';
      case 'signedBy': {
        const keys = await loadGpgKeys(req.keyPaths, req.keyDatas);
        if (keys.length === 0) return 'no GPG keys found for signedBy';
        const conf = await this.registriesD();
        return this.acceptAny(subject, req, ctx, async (loc, digest) => {
          const sigs = await lookasideSignatures(conf, loc, digest, ctx);
          return sigs.map((s) => () => verifySimpleSigning(s, keys));
        });
      }
      case 'sigstoreSigned': {
        if (req.unsupported) return req.unsupported;
        const keys = await loadPemKeys(req.keyPaths, req.keyDatas);
        if (keys.length === 0) return 'no public keys found for sigstoreSigned';
        const conf = await this.registriesD();
        if (!useSigstoreAttachments(conf, physicalRef(subject))) return 'a sigstore signature is required, but use-sigstore-attachments is not enabled in registries.d';
        return this.acceptAny(subject, req, ctx, async (loc, digest) => {
          const sigs = await sigstoreSignatures(subject.client, loc, digest, ctx);
          return sigs.map((s) => async () => verifyCosign(s.payload, s.signature, keys));
        });
      }
    }
  }

  /**
   * Tries every signature of the manifest (and of the index it came from); accepted when one
   * is valid, vouches for that digest and has an acceptable identity.
   */
  private async acceptAny(
    subject: TrustSubject,
    req: Extract<PolicyRequirement, { signedIdentity: unknown }>,
    ctx: OpContext,
    signaturesOf: (loc: SignatureLocation, digest: string) => Promise<(() => Promise<SignatureClaims>)[]>,
  ): Promise<string | undefined> {
    const loc: SignatureLocation = { ref: physicalRef(subject), source: subject.source, auth: subject.auth };
    const reasons: string[] = [];
    let count = 0;
    for (const digest of new Set([subject.manifestDigest, subject.topDigest])) {
      for (const verify of await signaturesOf(loc, digest)) {
        count++;
        let claims: SignatureClaims;
        try {
          claims = await verify();
        } catch (err) {
          if (!(err instanceof SignatureRejected)) throw err;
          reasons.push(err.message);
          continue;
        }
        if (claims.manifestDigest !== digest) {
          reasons.push(`signature is for manifest ${claims.manifestDigest}, not ${digest}`);
        } else if (!identityMatches(req.signedIdentity, subject.ref, claims.dockerReference)) {
          reasons.push(`signature for identity "${claims.dockerReference}" is not accepted (${req.signedIdentity.type})`);
        } else {
          return undefined;
        }
      }
    }
    ctx.log.debug('no acceptable signature', { image: formatReference(subject.ref), signatures: count });
    if (count === 0) return `a signature was required (${req.type}), but no signature exists`;
    return `no valid signature among ${count}: ${[...new Set(reasons)].join('; ')}`;
  }

  private registriesD(): Promise<RegistriesD> {
    return loadRegistriesD(this.options.registriesDir ?? DEFAULT_REGISTRIES_D);
  }
}

/** The repository actually contacted (a mirror's, when one serves the pull). */
function physicalRef(subject: TrustSubject): ImageReference {
  return parseReference(`${subject.source.endpoint.host}/${subject.source.repository}`);
}
