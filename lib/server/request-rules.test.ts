import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { checkArgs, checkName, checkNoNulBytes, checkPath, checkPortMappings } from './request-rules';

const refuses = (fn: () => void, pattern: RegExp): void => assert.throws(fn, (err: unknown) => err instanceof InvalidArgumentError && pattern.test(err.message) && err.message.length < 500);

test('checkName: printable, at most 253 bytes; empty only where allowed', () => {
  checkName('f', 'web-0');
  checkName('f', 'crictl_host.x');
  checkName('f', 'n'.repeat(253));
  checkName('f', '', true);
  refuses(() => checkName('config.metadata.name', ''), /^config\.metadata\.name is empty$/);
  refuses(() => checkName('config.metadata.name', 'a\0b'), /config\.metadata\.name "a\\u0000b" contains a control character/);
  refuses(() => checkName('config.metadata.name', 'a\tb'), /control character/);
  refuses(() => checkName('config.metadata.name', 'n'.repeat(254)), /\(254 bytes\) is too long: at most 253 bytes/);
});

test('checkPath: at most PATH_MAX bytes, value cut in the message', () => {
  checkPath('f', '/' + 'p'.repeat(4095));
  refuses(() => checkPath('config.mounts[0].host_path', '/' + 'p'.repeat(1024 * 1024)), /host_path "\/p+…" \(1048577 bytes\) is too long: at most 4096 bytes/);
});

test('checkNoNulBytes: names the field in snake_case, through lists and maps', () => {
  checkNoNulBytes('config', { command: ['sh'], envs: [{ key: 'A', value: 'b' }], labels: { a: 'b' }, data: new Uint8Array([0]) });
  refuses(() => checkNoNulBytes('config', { command: ['echo', 'a\0b'] }), /^config\.command\[1\] "a\\u0000b" contains a NUL byte/);
  refuses(() => checkNoNulBytes('config', { envs: [{ key: 'A', value: '\0' }] }), /^config\.envs\[0\]\.value /);
  refuses(() => checkNoNulBytes('config', { linux: { securityContext: { seLinuxOptions: { user: '\0' } } } }), /^config\.linux\.security_context\.se_linux_options\.user /);
  refuses(() => checkNoNulBytes('config', { labels: { 'a\0': 'b' } }), /^config\.labels has a key "a\\u0000" with a NUL byte/);
});

test('checkPortMappings: container port 1..65535, host port 0..65535, host IP an address', () => {
  checkPortMappings('m', [{ containerPort: 80, hostPort: 0, hostIp: '' }, { containerPort: 65535, hostPort: 65535, hostIp: '::1' }]);
  refuses(() => checkPortMappings('config.port_mappings', [{ containerPort: -1, hostPort: 8080, hostIp: '' }]), /^config\.port_mappings\[0\]\.container_port -1 is not a port: it must be 1\.\.65535/);
  refuses(() => checkPortMappings('m', [{ containerPort: 0, hostPort: 1, hostIp: '' }]), /container_port 0/);
  refuses(() => checkPortMappings('m', [{ containerPort: 1, hostPort: 1, hostIp: '' }, { containerPort: 1, hostPort: 70000, hostIp: '' }]), /m\[1\]\.host_port 70000/);
  refuses(() => checkPortMappings('m', [{ containerPort: 1, hostPort: 1, hostIp: 'localhost' }]), /host_ip "localhost" is not an IP address/);
});

test('checkArgs: each string under MAX_ARG_STRLEN', () => {
  checkArgs('config.args', ['a'.repeat(131071)]);
  refuses(() => checkArgs('config.args', ['ok', 'a'.repeat(131072)]), /^config\.args\[1\] "a+…" \(131072 bytes\) is too long: at most 131071 bytes \(MAX_ARG_STRLEN\)/);
});
