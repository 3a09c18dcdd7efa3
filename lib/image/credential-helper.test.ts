import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCredHelpers } from './auth-file';
import { parseHelperOutput } from './credential-helper';

const outputs: { name: string; stdout: string; want: ReturnType<typeof parseHelperOutput> }[] = [
  { name: 'user and secret', stdout: '{"ServerURL":"r","Username":"alice","Secret":"pw"}', want: { auth: Buffer.from('alice:pw').toString('base64') } },
  { name: 'identity token', stdout: '{"ServerURL":"r","Username":"<token>","Secret":"refresh"}', want: { identityToken: 'refresh' } },
  { name: 'empty secret: nothing', stdout: '{"Username":"alice","Secret":""}', want: undefined },
];
for (const c of outputs) test(`parseHelperOutput: ${c.name}`, () => assert.deepEqual(parseHelperOutput('x', c.stdout), c.want));

test('parseHelperOutput: non-JSON names the helper', () => {
  assert.throws(() => parseHelperOutput('ecr-login', 'oops'), /docker-credential-ecr-login printed something that is not JSON/);
});

test('parseCredHelpers: hosts normalised, empty names dropped, a non-object refused', () => {
  const m = parseCredHelpers(JSON.stringify({ credHelpers: { 'https://index.docker.io/v1/': 'desktop', 'quay.io': 'secretservice', 'x.io': '' } }), 'f');
  assert.deepEqual([...m], [['docker.io', 'desktop'], ['quay.io', 'secretservice']]);
  assert.deepEqual([...parseCredHelpers('{"auths":{}}', 'f')], []);
  assert.throws(() => parseCredHelpers('{"credHelpers":[]}', 'f.json'), /auth file f\.json: "credHelpers" is not an object/);
});
