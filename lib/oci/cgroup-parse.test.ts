import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFlatKeyed, parseLimit, parseNetDev, parsePsi } from './cgroup-parse';

test('parseFlatKeyed reads key value lines and skips junk', () => {
  const m = parseFlatKeyed('total_rss 4096\ntotal_inactive_file 10\noom_kill_disable 0\nbad line here\n\n');
  assert.deepEqual(
    [...m.entries()],
    [
      ['total_rss', 4096n],
      ['total_inactive_file', 10n],
      ['oom_kill_disable', 0n],
    ],
  );
});

const limitCases: { name: string; text: string; want: bigint | undefined }[] = [
  { name: 'v2 max', text: 'max\n', want: undefined },
  { name: 'v1 unlimited', text: '9223372036854771712\n', want: undefined },
  { name: 'a limit', text: '104857600\n', want: 104857600n },
  { name: 'garbage', text: 'x', want: undefined },
];
for (const c of limitCases) test(`parseLimit: ${c.name}`, () => assert.equal(parseLimit(c.text), c.want));

test('parsePsi reads some and full', () => {
  const psi = parsePsi('some avg10=1.50 avg60=0.00 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.10 avg300=0.00 total=99\n');
  assert.deepEqual(psi, { some: { avg10: 1.5, avg60: 0, avg300: 0, total: 1234n }, full: { avg10: 0, avg60: 0.1, avg300: 0, total: 99n } });
});

test('parseNetDev reads per-interface counters', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0',
    '  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0',
  ].join('\n');
  const [lo, eth0] = parseNetDev(text);
  assert.equal(lo?.name, 'lo');
  assert.deepEqual(eth0, {
    name: 'eth0',
    rxBytes: 5000n,
    rxPackets: 40n,
    rxErrors: 1n,
    rxDropped: 2n,
    txBytes: 3000n,
    txPackets: 30n,
    txErrors: 3n,
    txDropped: 4n,
  });
});
