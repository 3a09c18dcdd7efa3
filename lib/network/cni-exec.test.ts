import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { backgroundContext } from '../context';
import { UnavailableError } from '../errors';
import { nullLogger } from '../log';
import { execCniPlugin, findCniPlugin, type CniExecRequest } from './cni-exec';

let tmp = '';
let dirA = '';
let dirB = '';
const ctx = backgroundContext(nullLogger());

// Fake plugins are tiny shell scripts; `env` echoes what the plugin saw as its result.
const PLUGINS: Record<string, string> = {
  env: 'in=$(cat)\nprintf \'{"cniVersion":"1.0.0","env":"%s|%s|%s|%s|%s|%s","stdin":%s}\' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$in"\n',
  cnierr: 'cat >/dev/null\necho \'{"cniVersion":"1.0.0","code":11,"msg":"no more addresses","details":"range full"}\'\nexit 1\n',
  stderr: 'cat >/dev/null\necho "plain failure" >&2\nexit 3\n',
  garbage: 'cat >/dev/null\necho "hello"\n',
  silent: 'cat >/dev/null\n',
  array: 'cat >/dev/null\necho "[1]"\n',
};

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crts-cniexec-'));
  dirA = path.join(tmp, 'a');
  dirB = path.join(tmp, 'b');
  await fs.mkdir(dirA);
  await fs.mkdir(dirB);
  for (const [name, body] of Object.entries(PLUGINS)) await fs.writeFile(path.join(dirB, name), `#!/bin/sh\n${body}`, { mode: 0o755 });
  await fs.writeFile(path.join(dirA, 'notexec'), '#!/bin/sh\n', { mode: 0o644 });
  await fs.mkdir(path.join(dirA, 'adir'));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function req(pluginType: string, extra: Partial<CniExecRequest> = {}): CniExecRequest {
  return {
    command: 'ADD',
    pluginType,
    pluginDirs: [dirA, dirB],
    containerId: 'pod1',
    netns: '/run/netns/pod1',
    ifName: 'eth0',
    args: 'IgnoreUnknown=1;K8S_POD_NAME=web',
    config: '{"cniVersion":"1.0.0","name":"n","type":"env"}',
    ...extra,
  };
}

const findCases: { name: string; type: string; want: 'a' | 'b' | undefined }[] = [
  { name: 'found in second dir', type: 'env', want: 'b' },
  { name: 'missing', type: 'nosuch', want: undefined },
  { name: 'not executable skipped', type: 'notexec', want: undefined },
  { name: 'directory skipped', type: 'adir', want: undefined },
  { name: 'path traversal refused', type: '../b/env', want: undefined },
];
for (const c of findCases) {
  test(`findCniPlugin: ${c.name}`, async () => {
    const got = await findCniPlugin(c.type, [dirA, dirB]);
    assert.equal(got, c.want === undefined ? undefined : path.join(c.want === 'a' ? dirA : dirB, c.type));
  });
}

test('execCniPlugin: passes CNI_* env and stdin, returns the result', async () => {
  const res = await execCniPlugin(req('env'), ctx);
  assert.equal(res?.env, `ADD|pod1|/run/netns/pod1|eth0|IgnoreUnknown=1;K8S_POD_NAME=web|${dirA}:${dirB}`);
  assert.deepEqual(res?.stdin, { cniVersion: '1.0.0', name: 'n', type: 'env' });
});

test('execCniPlugin: DEL with an empty netns is passed through', async () => {
  const res = await execCniPlugin(req('env', { command: 'DEL', netns: '' }), ctx);
  assert.match(String(res?.env), /^DEL\|pod1\|\|eth0\|/);
});

test('execCniPlugin: no output is undefined (DEL success)', async () => {
  assert.equal(await execCniPlugin(req('silent', { command: 'DEL' }), ctx), undefined);
});

const errCases: { name: string; type: string; want: RegExp }[] = [
  { name: 'missing plugin names plugin and dirs', type: 'nosuch', want: /failed to find CNI plugin "nosuch" in path \[.*\/a .*\/b\]/ },
  { name: 'CNI error document', type: 'cnierr', want: /CNI plugin cnierr ADD failed: no more addresses: range full \(code 11\)/ },
  { name: 'plain stderr', type: 'stderr', want: /CNI plugin stderr ADD failed: plain failure/ },
  { name: 'non-JSON result', type: 'garbage', want: /not JSON: hello/ },
  { name: 'non-object result', type: 'array', want: /not a JSON object/ },
];
for (const c of errCases) {
  test(`execCniPlugin: ${c.name}`, async () => {
    await assert.rejects(execCniPlugin(req(c.type), ctx), (err: unknown) => {
      assert.ok(err instanceof UnavailableError);
      assert.match(err.message, c.want);
      return true;
    });
  });
}
