import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_SOCKET, formatContainer, formatInfo, parseStatusArgs } from './status-command';
import { toJson } from './inspect-info';

const parses: { name: string; argv: string[]; want: ReturnType<typeof parseStatusArgs> }[] = [
  { name: 'no command: usage', argv: [], want: { socket: DEFAULT_SOCKET } },
  { name: 'info', argv: ['info'], want: { socket: DEFAULT_SOCKET, sub: 'info' } },
  { name: 'alias i', argv: ['i'], want: { socket: DEFAULT_SOCKET, sub: 'info' } },
  { name: '--socket before the command', argv: ['--socket', '/x.sock', 'config'], want: { socket: '/x.sock', sub: 'config' } },
  { name: '--socket=', argv: ['--socket=/x.sock', 'c'], want: { socket: '/x.sock', sub: 'config' } },
  { name: '-s', argv: ['-s', '/x.sock', 'info'], want: { socket: '/x.sock', sub: 'info' } },
  { name: 'containers --id', argv: ['containers', '--id', 'abc'], want: { socket: DEFAULT_SOCKET, sub: 'containers', id: 'abc' } },
  { name: 'alias s -i', argv: ['s', '-i', 'abc'], want: { socket: DEFAULT_SOCKET, sub: 'containers', id: 'abc' } },
  { name: 'alias cs --id=', argv: ['cs', '--id=abc'], want: { socket: DEFAULT_SOCKET, sub: 'containers', id: 'abc' } },
  { name: '--help', argv: ['--socket', '/x.sock', '--help'], want: { socket: '/x.sock' } },
];
for (const c of parses) test(`parseStatusArgs: ${c.name}`, () => assert.deepEqual(parseStatusArgs(c.argv), c.want));

const refused: { name: string; argv: string[]; message: RegExp }[] = [
  { name: 'unknown command', argv: ['goroutines'], message: /unknown status command "goroutines"/ },
  { name: '--id outside containers', argv: ['info', '--id', 'x'], message: /unexpected argument "--id"/ },
  { name: 'socket without value', argv: ['--socket'], message: /flag --socket needs a value/ },
  { name: 'two commands', argv: ['info', 'config'], message: /unexpected argument "config"/ },
];
for (const c of refused) {
  test(`parseStatusArgs refuses: ${c.name}`, () => {
    assert.throws(() => parseStatusArgs(c.argv), (err: unknown) => err instanceof InvalidArgumentError && c.message.test(err.message));
  });
}

test('formatInfo: CRI-O crio-status lines', () => {
  const text = formatInfo({
    storage_driver: 'overlay',
    storage_image: '/var/lib/containers/storage/crio-images',
    storage_root: '/var/lib/containers/storage',
    cgroup_driver: 'cgroupfs',
    default_id_mappings: { uids: [{ container_id: 0, host_id: 0, size: 4294967295 }], gids: [{ container_id: 0, host_id: 100000, size: 65536 }] },
  });
  assert.equal(
    text,
    [
      'cgroup driver: cgroupfs',
      'storage driver: overlay',
      'storage graph root: /var/lib/containers/storage',
      'storage image: /var/lib/containers/storage/crio-images',
      'default GID mappings (format <container>:<host>:<size>):',
      '  0:100000:65536',
      'default UID mappings (format <container>:<host>:<size>):',
      '  0:0:4294967295',
      '',
    ].join('\n'),
  );
});

test('formatContainer: CRI-O crio-status lines, maps sorted', () => {
  const text = formatContainer({
    name: 'k8s_c_p_ns_uid_0',
    pid: 42,
    image: 'busybox:1.29-2',
    image_ref: 'r@sha256:1',
    created_time: '1750000000123456789',
    labels: { b: '2', a: '1' },
    annotations: {},
    crio_annotations: { 'io.kubernetes.cri-o.ContainerType': 'container' },
    log_path: '/var/log/pods/x/c/0.log',
    root: '/r/merged',
    sandbox: 'podid',
    ip_addresses: ['10.0.0.2', 'fd00::2'],
    host_network: false,
  });
  assert.match(text, /^name: k8s_c_p_ns_uid_0\npid: 42\nimage: busybox:1.29-2\nimage ref: r@sha256:1\ncreated: 1750000000123456789\n/);
  assert.match(text, /labels:\n {2}a: 1\n {2}b: 2\nannotations:\nCRI-O annotations:\n {2}io.kubernetes.cri-o.ContainerType: container\n/);
  assert.match(text, /graph root: \/r\/merged\nsandbox: podid\nips: 10.0.0.2, fd00::2\n$/);
});

test('toJson: int64 nanoseconds keep every digit', () => {
  const ns = 1750000000123456789n;
  const text = toJson({ name: 'x', created_time: ns, labels: { a: 'b' } });
  assert.equal(text, '{"name":"x","created_time":1750000000123456789,"labels":{"a":"b"}}');
  assert.notEqual(String(Number(ns)), ns.toString(), 'a double would have rounded it');
});
