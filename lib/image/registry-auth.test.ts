import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basicCredentials, credentialKey, parseChallenge, parseTokenResponse, TokenCache, type AuthChallenge, type AuthConfig } from './registry-auth';

const challengeCases: { name: string; header: string | undefined; want: AuthChallenge | undefined }[] = [
  {
    name: 'docker hub bearer',
    header: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    want: { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  },
  { name: 'basic', header: 'Basic realm="Registry Realm"', want: { scheme: 'basic', params: { realm: 'Registry Realm' } } },
  { name: 'unquoted and spaces', header: 'bearer  realm=https://r/t , service=svc', want: { scheme: 'bearer', params: { realm: 'https://r/t', service: 'svc' } } },
  { name: 'escaped quote', header: 'Bearer realm="a\\"b",error="invalid_token"', want: { scheme: 'bearer', params: { realm: 'a"b', error: 'invalid_token' } } },
  { name: 'unknown scheme', header: 'Negotiate abc', want: undefined },
  { name: 'absent', header: undefined, want: undefined },
];

for (const c of challengeCases) {
  test(`parseChallenge: ${c.name}`, () => {
    assert.deepEqual(parseChallenge(c.header), c.want);
  });
}

const credCases: { name: string; auth: AuthConfig | undefined; want: { username: string; password: string } | undefined }[] = [
  { name: 'username/password', auth: { username: 'u', password: 'p' }, want: { username: 'u', password: 'p' } },
  { name: 'base64 auth with colon in password', auth: { auth: Buffer.from('u:p:q').toString('base64') }, want: { username: 'u', password: 'p:q' } },
  { name: 'empty CRI message', auth: { username: '', password: '', auth: '', identityToken: '', registryToken: '', serverAddress: '' }, want: undefined },
  { name: 'none', auth: undefined, want: undefined },
];

for (const c of credCases) {
  test(`basicCredentials: ${c.name}`, () => {
    assert.deepEqual(basicCredentials(c.auth), c.want);
  });
}

test('credentialKey separates credential sets and hides secrets', () => {
  const a = credentialKey({ username: 'u', password: 'secret' });
  assert.notEqual(a, credentialKey({ username: 'u', password: 'other' }));
  assert.equal(credentialKey(undefined), 'anonymous');
  assert.equal(credentialKey({ username: '' }), 'anonymous');
  assert.ok(!a.includes('secret'));
});

const tokenCases: { name: string; body: unknown; now: number; want: { token: string; expiresAt: number } | undefined }[] = [
  { name: 'token + expires_in', body: { token: 't', expires_in: 300 }, now: 1_000_000, want: { token: 't', expiresAt: 1_000_000 + 300_000 - 5000 } },
  { name: 'access_token, short expiry raised to 60s', body: { access_token: 'a', expires_in: 10 }, now: 0, want: { token: 'a', expiresAt: 55_000 } },
  { name: 'issued_at in the past counts', body: { token: 't', expires_in: 120, issued_at: new Date(1_000_000).toISOString() }, now: 1_050_000, want: { token: 't', expiresAt: 1_000_000 + 115_000 } },
  { name: 'no token', body: { expires_in: 10 }, now: 0, want: undefined },
];

for (const c of tokenCases) {
  test(`parseTokenResponse: ${c.name}`, () => {
    assert.deepEqual(parseTokenResponse(c.body, c.now), c.want);
  });
}

test('TokenCache drops expired tokens', () => {
  const cache = new TokenCache();
  cache.set('k', { token: 't', expiresAt: 100 });
  assert.equal(cache.get('k', 99), 't');
  assert.equal(cache.get('k', 100), undefined);
  assert.equal(cache.get('k', 0), undefined);
});
