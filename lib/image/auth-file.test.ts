import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authFilePaths, authKeysFor, lookupAuth, normalizeAuthKey, parseAuthFile } from './auth-file';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const keyCases: { name: string; key: string; want: string }[] = [
  { name: 'plain host', key: 'quay.io', want: 'quay.io' },
  { name: 'host with namespace', key: 'quay.io/ns/repo', want: 'quay.io/ns/repo' },
  { name: 'legacy docker hub key', key: 'https://index.docker.io/v1/', want: 'docker.io' },
  { name: 'scheme and path dropped', key: 'http://127.0.0.1:5000/v2/', want: '127.0.0.1:5000' },
  { name: 'trailing slash', key: 'example.com/ns/', want: 'example.com/ns' },
];
for (const c of keyCases) test(`normalizeAuthKey: ${c.name}`, () => assert.equal(normalizeAuthKey(c.key), c.want));

test('authKeysFor: most specific first', () => {
  assert.deepEqual(authKeysFor('reg.io/ns/user/image'), ['reg.io/ns/user/image', 'reg.io/ns/user', 'reg.io/ns', 'reg.io']);
});

const file = JSON.stringify({
  auths: {
    'reg.io': { auth: b64('host:pw') },
    'reg.io/team': { auth: b64('team:pw') },
    'https://index.docker.io/v1/': { auth: b64('hub:pw') },
    'tok.io': { identitytoken: 'refresh-me' },
    'empty.io': {},
  },
});
const lookupCases: { name: string; repo: string; want: string | undefined }[] = [
  { name: 'namespace entry wins over host', repo: 'reg.io/team/app', want: b64('team:pw') },
  { name: 'host entry for another namespace', repo: 'reg.io/other/app', want: b64('host:pw') },
  { name: 'docker hub legacy key', repo: 'docker.io/library/busybox', want: b64('hub:pw') },
  { name: 'no entry', repo: 'nowhere.io/x', want: undefined },
  { name: 'entry without credentials is ignored', repo: 'empty.io/x', want: undefined },
];
for (const c of lookupCases) {
  test(`lookupAuth: ${c.name}`, () => assert.equal(lookupAuth(parseAuthFile(file, 'f'), c.repo)?.auth, c.want));
}

test('identity tokens are kept', () => {
  assert.equal(lookupAuth(parseAuthFile(file, 'f'), 'tok.io/x')?.identityToken, 'refresh-me');
});

test('legacy .dockercfg has no auths wrapper', () => {
  const entries = parseAuthFile(JSON.stringify({ 'https://reg.io': { auth: b64('u:p') } }), 'dockercfg', true);
  assert.equal(lookupAuth(entries, 'reg.io/a')?.auth, b64('u:p'));
});

const badCases: { name: string; text: string; want: RegExp }[] = [
  { name: 'not JSON', text: '{', want: /auth file \/x: not valid JSON/ },
  { name: 'auths not an object', text: '{"auths": []}', want: /"auths" is not an object/ },
  { name: 'auth without colon', text: JSON.stringify({ auths: { r: { auth: b64('nocolon') } } }), want: /entry "r"/ },
];
for (const c of badCases) test(`parseAuthFile rejects ${c.name}`, () => assert.throws(() => parseAuthFile(c.text, '/x'), c.want));

const pathCases: { name: string; loc: Parameters<typeof authFilePaths>[0]; want: string[] }[] = [
  { name: 'global file only', loc: { globalAuthFile: '/etc/crio/auth.json', env: { REGISTRY_AUTH_FILE: '/r' } }, want: ['/etc/crio/auth.json'] },
  { name: 'REGISTRY_AUTH_FILE only', loc: { env: { REGISTRY_AUTH_FILE: '/r' } }, want: ['/r'] },
  {
    name: 'root defaults',
    loc: { env: {}, uid: 0, home: '/root' },
    want: ['/run/containers/0/auth.json', '/root/.config/containers/auth.json', '/root/.docker/config.json', '/root/.dockercfg'],
  },
  {
    name: 'XDG and DOCKER_CONFIG',
    loc: { env: { XDG_RUNTIME_DIR: '/run/user/5', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dc' }, uid: 5, home: '/h' },
    want: ['/run/user/5/containers/auth.json', '/cfg/containers/auth.json', '/dc/config.json', '/h/.dockercfg'],
  },
];
for (const c of pathCases) test(`authFilePaths: ${c.name}`, () => assert.deepEqual(authFilePaths(c.loc).map((p) => p.path), c.want));
