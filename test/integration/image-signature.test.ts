import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FailedPreconditionError } from '../../lib/errors';
import type { ImageService } from '../../lib/image/image-service';
import { PolicyTrust } from '../../lib/image/image-trust';
import { hex, newImageService, registrySkipReason, testContext, type LogLine, type TestSink } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { generateCosignKey, generateGpgKey, pushCosignSignature, simpleSignature, writeLookaside, type CosignKey, type GpgKey } from '../harness/signing';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';

/*
 * policy.json enforcement at pull time with signatures the test makes from keys it generates:
 * GPG simple signing from a file:// lookaside (registries.d) and cosign public-key signatures
 * from `.sig` tags. Accepted when signed by the trusted key for the right identity; rejected
 * (SignatureValidationFailed, nothing fetched beyond the manifest, nothing stored) when
 * unsigned, signed by another key, or signed for another identity.
 */

const skip = registrySkipReason();

describe('signature policy', { skip }, () => {
  let tmp = '';
  let registry: TestRegistry;
  let trusted: GpgKey;
  let stranger: GpgKey;
  let cosignTrusted: CosignKey;
  let cosignStranger: CosignKey;
  let svc: ImageService;
  let sink: TestSink;
  const images: Record<string, BuiltImage> = {};
  const logs: LogLine[] = [];
  const ctx = testContext(logs);
  const lookaside = (): string => path.join(tmp, 'lookaside');
  const name = (repo: string, tag: string): string => `${registry.host}/library/${repo}:${tag}`;

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-image-sig-'));
    registry = await startRegistry();
    [trusted, stranger] = await Promise.all([generateGpgKey('trusted'), generateGpgKey('stranger')]);
    cosignTrusted = generateCosignKey();
    cosignStranger = generateCosignKey();
    for (const [repo, tags] of Object.entries({ signed: ['good', 'unsigned', 'stranger', 'identity'], cosigned: ['good', 'unsigned', 'stranger'], open: ['1'], other: ['1'] })) {
      for (const tag of tags) {
        const img = await buildBusyboxImage({ labels: { repo, tag } });
        images[`${repo}:${tag}`] = img;
        await registry.push(`library/${repo}`, tag, img);
      }
    }
    const digest = (k: string): string => images[k]?.manifestDigest ?? '';
    await writeLookaside(lookaside(), 'library/signed', digest('signed:good'), [await simpleSignature(stranger, digest('signed:good'), name('signed', 'good')), await simpleSignature(trusted, digest('signed:good'), name('signed', 'good'))]);
    await writeLookaside(lookaside(), 'library/signed', digest('signed:stranger'), [await simpleSignature(stranger, digest('signed:stranger'), name('signed', 'stranger'))]);
    await writeLookaside(lookaside(), 'library/signed', digest('signed:identity'), [await simpleSignature(trusted, digest('signed:identity'), name('other', '1'))]);
    // cosign signs the repository, not a tag.
    await pushCosignSignature(registry, 'library/cosigned', cosignTrusted, digest('cosigned:good'), `${registry.host}/library/cosigned`);
    await pushCosignSignature(registry, 'library/cosigned', cosignStranger, digest('cosigned:stranger'), `${registry.host}/library/cosigned`);

    const keyFile = path.join(tmp, 'trusted.asc');
    await fs.writeFile(keyFile, trusted.publicKey);
    const cosignKey = path.join(tmp, 'cosign.pub');
    await fs.writeFile(cosignKey, cosignTrusted.publicKeyPem);
    const policyFile = path.join(tmp, 'policy.json');
    await fs.writeFile(
      policyFile,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: {
            [`${registry.host}/library/signed`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: keyFile }],
            [`${registry.host}/library/cosigned`]: [{ type: 'sigstoreSigned', keyPath: cosignKey, signedIdentity: { type: 'matchRepository' } }],
            [`${registry.host}/library/open`]: [{ type: 'insecureAcceptAnything' }],
          },
        },
      }),
    );
    const policyDir = path.join(tmp, 'policies');
    await fs.mkdir(policyDir);
    await fs.writeFile(path.join(policyDir, 'relaxed.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const registriesDir = path.join(tmp, 'registries.d');
    await fs.mkdir(registriesDir);
    await fs.writeFile(path.join(registriesDir, 'default.yaml'), `default-docker:\n  lookaside: file://${lookaside()}\n  use-sigstore-attachments: true\n`);
    const made = await newImageService(tmp, ctx.log, {
      registriesConf: `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`,
      trust: new PolicyTrust({ policyFile, policyDir, registriesDir }),
    });
    svc = made.svc;
    sink = made.sink;
  });
  after(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  const rejectedBecause = async (ref: string, why: RegExp, namespace?: string): Promise<void> => {
    const applied = sink.applied.length;
    await assert.rejects(
      svc.pull(ref, undefined, ctx, namespace ? { namespace } : {}),
      (e: unknown) => e instanceof FailedPreconditionError && e.message.startsWith('SignatureValidationFailed: Source image rejected') && why.test(e.message),
    );
    assert.equal(await svc.status(ref), undefined, `${ref} is not stored`);
    assert.equal(sink.applied.length, applied, 'no layer was fetched');
  };

  test('GPG simple signing: the trusted key for this name is accepted (another key beside it is ignored)', async () => {
    assert.equal((await svc.pull(name('signed', 'good'), undefined, ctx)).id, hex(images['signed:good']?.configDigest ?? ''));
  });

  test('CreateContainer-time check: the stored image is verified again for the name the user gave', async () => {
    const img = await svc.resolve(name('signed', 'good'));
    await svc.verifyStoredImage(img, name('signed', 'good'), undefined, ctx);
    await assert.rejects(svc.verifyStoredImage(img, name('other', '1'), undefined, ctx), /SignatureValidationFailed: .*was not pulled as/);
    const open = await svc.pull(name('open', '1'), undefined, ctx);
    await svc.verifyStoredImage(open, name('open', '1'), undefined, ctx);
  });

  test('GPG: unsigned, signed by another key, signed for another name are rejected', async () => {
    await rejectedBecause(name('signed', 'unsigned'), /a signature was required \(signedBy\), but no signature exists/);
    await rejectedBecause(name('signed', 'stranger'), /not valid for any trusted key/);
    await rejectedBecause(name('signed', 'identity'), /signature for identity ".*library\/other:1" is not accepted/);
  });

  test('cosign: a .sig attachment by the trusted key is accepted; unsigned or another key is rejected', async () => {
    assert.equal((await svc.pull(name('cosigned', 'good'), undefined, ctx)).id, hex(images['cosigned:good']?.configDigest ?? ''));
    await rejectedBecause(name('cosigned', 'unsigned'), /a signature was required \(sigstoreSigned\), but no signature exists/);
    await rejectedBecause(name('cosigned', 'stranger'), /cosign signature not valid for any trusted key/);
  });

  test('scopes: insecureAcceptAnything, the reject default, and a per-namespace policy', async () => {
    assert.equal((await svc.pull(name('open', '1'), undefined, ctx)).id, hex(images['open:1']?.configDigest ?? ''));
    await rejectedBecause(name('other', '1'), /rejected by policy.*scope "default"/);
    await rejectedBecause(name('other', '1'), /rejected by policy/, 'strict-ns-without-file');
    assert.equal((await svc.pull(name('other', '1'), undefined, ctx, { namespace: 'relaxed' })).id, hex(images['other:1']?.configDigest ?? ''));
  });
});
