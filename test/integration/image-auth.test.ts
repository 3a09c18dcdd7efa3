import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors';
import { haveProgram, hex, newImageService, registrySkipReason, testContext, unusedPort, type LogLine } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';
import { startTokenIssuer, type TokenIssuer } from '../harness/token-issuer';

/*
 * Registry authentication and registries.conf routing against real docker-registry processes:
 * bearer tokens from the harness's token issuer (reuse, one re-auth after a 401), htpasswd
 * Basic auth with credentials from the CRI request or from auth.json, request credentials kept
 * from a mirror on another host, blocked registries and short names (enforcing, aliases).
 */

const skip = registrySkipReason() || (!haveProgram('htpasswd') ? 'htpasswd missing (apt-get install apache2-utils)' : false) || (!haveProgram('openssl') ? 'openssl missing' : false);

const SECRET = 'tok3n-s3cret-pw';
const BASIC_SECRET = 'b4sic-s3cret-pw';

describe('registry auth and routing', { skip }, () => {
  let tmp = '';
  let issuer: TokenIssuer;
  let tokenReg: TestRegistry;
  let basicReg: TestRegistry;
  let openReg: TestRegistry;
  let busybox: BuiltImage;
  let other: BuiltImage;
  const logs: LogLine[] = [];
  const ctx = testContext(logs);

  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-image-auth-'));
    issuer = await startTokenIssuer({ users: { bob: SECRET }, refreshTokens: { 'refresh-for-carol': 'carol' } });
    tokenReg = await startRegistry({ token: issuer });
    basicReg = await startRegistry({ htpasswd: { username: 'alice', password: BASIC_SECRET } });
    openReg = await startRegistry();
    busybox = await buildBusyboxImage();
    other = await buildBusyboxImage({ labels: { other: '1' } });
    for (const r of [tokenReg, basicReg, openReg]) {
      await r.push('library/busybox', 'latest', busybox);
      await r.push('library/busybox', 'other', other);
    }
  });
  after(async () => {
    for (const r of [tokenReg, basicReg, openReg]) await r?.stop();
    await issuer?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  const insecure = (...hosts: string[]): string => hosts.map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`).join('\n');

  test('token auth: refused anonymously, tokens reused per scope, one re-auth after a 401', async () => {
    const { svc } = await newImageService(tmp, ctx.log, { registriesConf: insecure(tokenReg.host) });
    const name = `${tokenReg.host}/library/busybox`;
    await assert.rejects(svc.pull(`${name}:latest`, undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /unauthorized/.test(e.message));
    const bob = { username: 'bob', password: SECRET };
    issuer.requests.length = 0;
    assert.equal((await svc.pull(`${name}:latest`, bob, ctx)).id, hex(busybox.configDigest));
    assert.deepEqual(issuer.requests.map((r) => [r.account, r.scope]), [['bob', 'repository:library/busybox:pull']]);
    // Another tag of the same repository: the cached token serves it.
    assert.equal((await svc.pull(`${name}:other`, bob, ctx)).id, hex(other.configDigest));
    assert.equal(issuer.requests.length, 1, 'token reused until it expires');

    // A service with a fresh cache; its first token is refused by the registry (expired).
    const fresh = await newImageService(tmp, ctx.log, { registriesConf: insecure(tokenReg.host) });
    issuer.requests.length = 0;
    issuer.spoilNext(1);
    assert.equal((await fresh.svc.pull(`${name}:latest`, bob, ctx)).id, hex(busybox.configDigest));
    assert.equal(issuer.requests.length, 2, 'one new token after the 401');
    // Every token refused: exactly one re-auth per request, then the error.
    const third = await newImageService(tmp, ctx.log, { registriesConf: insecure(tokenReg.host) });
    issuer.requests.length = 0;
    issuer.spoilNext(100);
    await assert.rejects(third.svc.pull(`${name}:latest`, bob, ctx), (e: unknown) => e instanceof FailedPreconditionError && /unauthorized/.test(e.message));
    assert.equal(issuer.requests.length, 2);
    issuer.spoilNext(0);
    assert.ok(!JSON.stringify(logs).includes(SECRET), 'password never logged');
  });

  test('token auth: a CRI identity token is exchanged (OAuth2 refresh), a registry token is sent as is', async () => {
    const name = `${tokenReg.host}/library/busybox:latest`;
    const a = await newImageService(tmp, ctx.log, { registriesConf: insecure(tokenReg.host) });
    issuer.requests.length = 0;
    assert.equal((await a.svc.pull(name, { identityToken: 'refresh-for-carol' }, ctx)).id, hex(busybox.configDigest));
    assert.deepEqual(issuer.requests.map((r) => r.account), ['carol']);
    const b = await newImageService(tmp, ctx.log, { registriesConf: insecure(tokenReg.host) });
    await assert.rejects(b.svc.pull(name, { identityToken: 'stolen' }, ctx), /unauthorized/);
    issuer.requests.length = 0;
    const registryToken = issuer.mint(['repository:library/busybox:pull']);
    assert.equal((await b.svc.pull(name, { registryToken }, ctx)).id, hex(busybox.configDigest));
    assert.equal(issuer.requests.length, 0, 'no token request with a registry token');
    assert.ok(!JSON.stringify(logs).includes('refresh-for-carol') && !JSON.stringify(logs).includes(registryToken));
  });

  test('auth.json: global_auth_file, the runtime-dir file, most specific key first', async () => {
    const name = `${basicReg.host}/library/busybox:latest`;
    const entry = (user: string, pw: string): { auth: string } => ({ auth: Buffer.from(`${user}:${pw}`).toString('base64') });
    const globalFile = path.join(tmp, 'global-auth.json');
    await fs.writeFile(
      globalFile,
      JSON.stringify({ auths: { [basicReg.host]: entry('alice', 'wrong'), [`${basicReg.host}/library/busybox`]: entry('alice', BASIC_SECRET) } }),
    );
    const g = await newImageService(tmp, ctx.log, { registriesConf: insecure(basicReg.host), globalAuthFile: globalFile });
    assert.equal((await g.svc.pull(name, undefined, ctx)).id, hex(busybox.configDigest));

    // No global file: /run/containers/0/auth.json's stand-in ($XDG_RUNTIME_DIR/containers/auth.json).
    const runDir = path.join(tmp, 'xdg-run');
    await fs.mkdir(path.join(runDir, 'containers'), { recursive: true });
    await fs.writeFile(path.join(runDir, 'containers', 'auth.json'), JSON.stringify({ auths: { [`http://${basicReg.host}/v1/`]: entry('alice', BASIC_SECRET) } }));
    const r = await newImageService(tmp, ctx.log, { registriesConf: insecure(basicReg.host), authFileLocations: { env: { XDG_RUNTIME_DIR: runDir }, home: tmp } });
    assert.equal((await r.svc.pull(name, undefined, ctx)).id, hex(busybox.configDigest));
    // The global file, when set, is the only one read.
    const empty = path.join(tmp, 'empty-auth.json');
    await fs.writeFile(empty, '{"auths":{}}');
    const only = await newImageService(tmp, ctx.log, { registriesConf: insecure(basicReg.host), globalAuthFile: empty, authFileLocations: { env: { XDG_RUNTIME_DIR: runDir }, home: tmp } });
    await assert.rejects(only.svc.pull(name, undefined, ctx), /unauthorized/);
    // A per-pull auth file (pause_image_auth_file) replaces the configured ones.
    assert.equal((await only.svc.pull(name, undefined, ctx, { authFile: globalFile })).id, hex(busybox.configDigest));
    assert.ok(!JSON.stringify(logs).includes(BASIC_SECRET));
  });

  test('credHelpers: the docker-credential helper answers first; "not found" falls back to the entries; a broken helper is a clear error', async () => {
    const name = `${basicReg.host}/library/busybox:latest`;
    const binDir = path.join(tmp, 'helpers');
    await fs.mkdir(binDir, { recursive: true });
    const asked = path.join(tmp, 'helper-asked');
    // The credential-helper protocol: registry on stdin, JSON on stdout.
    const helper = (body: string) => `#!/bin/sh\nread registry\necho "$registry" >> ${asked}\n${body}\n`;
    await fs.writeFile(path.join(binDir, 'docker-credential-good'), helper(`echo '{"ServerURL":"'$registry'","Username":"alice","Secret":"${BASIC_SECRET}"}'`), { mode: 0o755 });
    await fs.writeFile(path.join(binDir, 'docker-credential-empty'), helper('echo "credentials not found in native keychain"; exit 1'), { mode: 0o755 });
    await fs.writeFile(path.join(binDir, 'docker-credential-broken'), helper('echo "keychain locked" >&2; exit 3'), { mode: 0o755 });
    const savedPath = process.env.PATH;
    process.env.PATH = `${binDir}:${savedPath ?? ''}`;
    try {
      const file = path.join(tmp, 'helper-auth.json');
      const withHelper = async (helperName: string, auths: Record<string, unknown> = {}) => {
        await fs.writeFile(file, JSON.stringify({ auths, credHelpers: { [basicReg.host]: helperName } }));
        return (await newImageService(tmp, ctx.log, { registriesConf: insecure(basicReg.host), globalAuthFile: file })).svc;
      };
      assert.equal((await (await withHelper('good', { [basicReg.host]: { auth: Buffer.from('alice:wrong').toString('base64') } })).pull(name, undefined, ctx)).id, hex(busybox.configDigest));
      assert.match(await fs.readFile(asked, 'utf8'), new RegExp(`^${basicReg.host}$`, 'm'));
      const fallback = await withHelper('empty', { [basicReg.host]: { auth: Buffer.from(`alice:${BASIC_SECRET}`).toString('base64') } });
      assert.equal((await fallback.pull(name, undefined, ctx)).id, hex(busybox.configDigest));
      await assert.rejects((await withHelper('broken')).pull(name, undefined, ctx), /credential helper docker-credential-broken failed for .*exit 3.*keychain locked/);
      await assert.rejects((await withHelper('missing')).pull(name, undefined, ctx), /docker-credential-missing .* cannot be run/);
    } finally {
      process.env.PATH = savedPath;
    }
    assert.ok(!JSON.stringify(logs).includes(BASIC_SECRET));
  });

  test('request credentials never reach a mirror on another host; the mirror uses its auth.json entry', async () => {
    // Logical registry = basicReg (alice); its mirror = tokenReg (bob, via the token issuer).
    const conf = `[[registry]]\nlocation = "${basicReg.host}"\ninsecure = true\n[[registry.mirror]]\nlocation = "${tokenReg.host}"\ninsecure = true\n`;
    const alice = { username: 'alice', password: BASIC_SECRET };
    const name = `${basicReg.host}/library/busybox:latest`;
    const plain = await newImageService(tmp, ctx.log, { registriesConf: conf });
    issuer.requests.length = 0;
    logs.length = 0;
    assert.equal((await plain.svc.pull(name, alice, ctx)).id, hex(busybox.configDigest));
    assert.ok(issuer.requests.length > 0, 'the mirror was tried first');
    assert.ok(issuer.requests.every((r) => r.account === undefined), 'alice was never sent to the mirror');
    assert.ok(!logs.some((l) => l.message === 'pulling image from mirror'), 'the primary served it');

    const authFile = path.join(tmp, 'mirror-auth.json');
    await fs.writeFile(authFile, JSON.stringify({ auths: { [tokenReg.host]: { auth: Buffer.from(`bob:${SECRET}`).toString('base64') } } }));
    const withFile = await newImageService(tmp, ctx.log, { registriesConf: conf, globalAuthFile: authFile });
    issuer.requests.length = 0;
    const img = await withFile.svc.pull(name, alice, ctx);
    assert.deepEqual(img.repoTags, [name], 'the image keeps its logical name');
    assert.ok(logs.some((l) => l.message === 'pulling image from mirror' && l.fields.registry === tokenReg.host));
    assert.deepEqual([...new Set(issuer.requests.map((r) => r.account))], ['bob']);
  });

  test('pull-from-mirror digest-only, blocked registries, location rewrite', async () => {
    const dead = await unusedPort();
    const conf =
      `[[registry]]\nprefix = "digest.test/library"\nlocation = "127.0.0.1:${dead}/library"\ninsecure = true\n` +
      `[[registry.mirror]]\nlocation = "${openReg.host}/library"\ninsecure = true\npull-from-mirror = "digest-only"\n\n` +
      `[[registry]]\nprefix = "blocked.test"\nlocation = "${openReg.host}"\nblocked = true\n\n` +
      `[[registry]]\nprefix = "rewrite.test/ns"\nlocation = "${openReg.host}/library"\ninsecure = true\n`;
    const { svc } = await newImageService(tmp, ctx.log, { registriesConf: conf });
    // By tag the digest-only mirror is skipped and the dead primary fails.
    await assert.rejects(svc.pull('digest.test/library/busybox:latest', undefined, ctx), /127\.0\.0\.1/);
    const byDigest = await svc.pull(`digest.test/library/busybox@${busybox.manifestDigest}`, undefined, ctx);
    assert.equal(byDigest.id, hex(busybox.configDigest));
    assert.deepEqual(byDigest.repoDigests, [`digest.test/library/busybox@${busybox.manifestDigest}`]);
    await assert.rejects(svc.pull('blocked.test/library/busybox', undefined, ctx), (e: unknown) => e instanceof FailedPreconditionError && /blocked/.test(e.message));
    assert.equal((await svc.pull('rewrite.test/ns/busybox:other', undefined, ctx)).id, hex(other.configDigest));
  });

  test('short names: enforcing refuses an ambiguous name, aliases and the alias cache resolve it', async () => {
    const search = `unqualified-search-registries = ["${openReg.host}", "${basicReg.host}"]\n`;
    const { svc, root } = await newImageService(tmp, ctx.log, {
      registriesConf: `${search}[aliases]\n"aliased" = "${openReg.host}/library/busybox"\n\n${insecure(openReg.host, basicReg.host)}`,
      shortNameMode: 'enforcing',
    });
    await assert.rejects(svc.pull('busybox', undefined, ctx), (e: unknown) => e instanceof InvalidArgumentError && /short name mode is enforcing, but image name busybox returns ambiguous list/.test(e.message));
    const aliased = await svc.pull('aliased:other', undefined, ctx);
    assert.equal(aliased.id, hex(other.configDigest));
    assert.deepEqual(aliased.repoTags, [`${openReg.host}/library/busybox:other`]);
    assert.equal((await svc.status('aliased:other'))?.id, aliased.id, 'local lookups resolve the alias too');
    // The machine-recorded alias cache is read as well (registries.conf aliases win over it).
    await fs.writeFile(path.join(root, 'short-name-aliases.conf'), `[aliases]\n"cached" = "${openReg.host}/library/busybox"\n"aliased" = "nowhere.test/x"\n`);
    await svc.reloadRegistries();
    assert.equal((await svc.pull('cached', undefined, ctx)).id, hex(busybox.configDigest));
    assert.equal((await svc.pull('aliased', undefined, ctx)).id, hex(busybox.configDigest));
    // disabled: every search registry in order; the first refuses (no credentials), the second has it.
    await openReg.push('busybox', 'other', other);
    const d = await newImageService(tmp, ctx.log, {
      registriesConf: `unqualified-search-registries = ["${basicReg.host}", "${openReg.host}"]\n${insecure(openReg.host, basicReg.host)}`,
      shortNameMode: 'disabled',
    });
    assert.deepEqual((await d.svc.pull('busybox:other', undefined, ctx)).repoTags, [`${openReg.host}/busybox:other`]);
    assert.ok(logs.some((l) => l.message === 'pull candidate failed' && l.fields.image === `${basicReg.host}/busybox:other`));
  });
});
