import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerRemovals, knownKubeletErrors } from './node-e2e/known-errors';
import { kubeletErrors, renderReport, triageErrors } from './node-e2e/report';

/** The node e2e suite's error triage (pure): klog lines in, groups with reasons out. */

const LOG = [
  'I1205 19:31:11.292768   30533 server.go:1175] "not an error"',
  'E1205 19:31:11.292768   30533 server.go:1175] "Failed to set rlimit on max file handles" err="operation not permitted"',
  'E1205 19:36:36.458278    8903 remote_runtime.go:277] "ListPodSandbox with filter from runtime service failed" err="rpc error: code = Unavailable desc = connection error"',
  `E1205 19:38:12.750982    8903 manager.go:1121] Failed to create existing container: /crio/crio-${'a'.repeat(64)}: Error finding container: Status 404`,
  `E1205 19:38:12.750983    8903 manager.go:1121] Failed to create existing container: /crio/crio-${'b'.repeat(64)}: Error finding container: Status 404`,
  'E1205 20:00:00.000000    8903 remote_runtime.go:277] "ListPodSandbox with filter from runtime service failed" err="rpc error: code = Unavailable desc = connection error"',
  `E1205 20:01:00.000000    8903 remote_runtime.go:415] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"${'c'.repeat(64)}\\" not found" containerID="${'c'.repeat(64)}"`,
  `E1205 20:01:01.000000    8903 remote_runtime.go:415] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"${'d'.repeat(64)}\\" not found" containerID="${'d'.repeat(64)}"`,
  'E1205 20:02:00.000000    8903 cadvisor_stats_provider.go:442] "Partial failure issuing cadvisor.ContainerInfoV2" err="partial failures: [\\"/process_api/fd17c27f/job-19\\": RecentStats: unable to find data in memory cache]"',
  `E1205 20:02:01.000000    8903 cadvisor_stats_provider.go:442] "Partial failure issuing cadvisor.ContainerInfoV2" err="partial failures: [\\"/kubepods/burstable/pod1/crio-${'e'.repeat(64)}\\": RecentStats: unable to find data in memory cache]"`,
  `E1205 20:03:00.000000    8903 remote_runtime.go:415] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"${'f'.repeat(64)}\\" not found" containerID="${'f'.repeat(64)}"`,
  `E1205 20:10:00.000000    8903 remote_runtime.go:415] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"${'9'.repeat(64)}\\" not found" containerID="${'9'.repeat(64)}"`,
].join('\n');

/** The daemon's log of the same run: 'f' removed just before the kubelet asked, '9' eight minutes before. */
function daemonLog(year: number): string {
  const at = (h: number, m: number, s: number, ms: number) => {
    const d = new Date(year, 11, 5, h, m, s, ms);
    const off = -d.getTimezoneOffset();
    const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');
    const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(off % 60)}`;
    return `${year}-12-05T${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms, 3)}${zone}`;
  };
  return [
    `time="${at(20, 2, 59, 990)}" level=info msg="container removed" containerId=${'f'.repeat(64)} podSandboxId=${'1'.repeat(64)}`,
    `time="${at(20, 2, 0, 0)}" level=info msg="container removed" containerId=${'9'.repeat(64)} podSandboxId=${'1'.repeat(64)}`,
    `time="${at(20, 2, 0, 0)}" level=info msg="container stopped" containerId=${'8'.repeat(64)}`,
  ].join('\n');
}

test('containerRemovals: the time of each "container removed" line, by container ID', () => {
  const year = new Date().getFullYear();
  const removed = containerRemovals(daemonLog(year));
  assert.deepEqual([...removed.keys()], ['f'.repeat(64), '9'.repeat(64)]);
  assert.equal(removed.get('f'.repeat(64)), new Date(year, 11, 5, 20, 2, 59, 990).getTime());
});

test('kubeletErrors: E lines only, with local time, source and message', () => {
  const errors = kubeletErrors(LOG);
  assert.equal(errors.length, 11);
  const first = errors[0];
  assert.equal(first?.source, 'server.go:1175');
  assert.match(first?.message ?? '', /^"Failed to set rlimit/);
  const t = new Date(first?.time ?? 0);
  assert.deepEqual([t.getMonth(), t.getDate(), t.getHours(), t.getMinutes(), t.getSeconds(), t.getMilliseconds()], [11, 5, 19, 31, 11, 292]);
});

test('triageErrors: reasons from the run facts; what matches none stays unexplained', () => {
  const year = new Date().getFullYear();
  const down: [number, number] = [new Date(year, 11, 5, 19, 36, 30).getTime(), new Date(year, 11, 5, 19, 37, 0).getTime()];
  const groups = triageErrors(kubeletErrors(LOG), knownKubeletErrors({ ownIds: new Set(['b'.repeat(64)]), runtimeDown: [down], crashLoopPod: 'crashloop-node', teardownFrom: new Map(), staleLogLinks: new Set(['c'.repeat(64)]), removedAt: containerRemovals(daemonLog(year)) }));
  const explained = groups.filter((g) => g.reason !== undefined).map((g) => [g.key.split(' ')[0], g.count]);
  assert.deepEqual(explained, [
    ['server.go:1175', 1],
    ['remote_runtime.go:277', 1],
    ['manager.go:1121', 1],
    ['remote_runtime.go:415', 1],
    ['cadvisor_stats_provider.go:442', 1],
    ['remote_runtime.go:415', 1],
  ]);
  assert.match(groups.find((g) => g.example.includes('f'.repeat(64)))?.reason ?? '', /the kubelet's own race/);
  const unexplained = groups.filter((g) => g.reason === undefined).map((g) => g.example);
  assert.equal(unexplained.length, 4, 'an own container unknown to the daemon, an outage outside the restart, a NotFound neither after a removal nor for a stale log link, a pod cgroup cAdvisor lost');
  assert.match(unexplained[0] ?? '', /crio-b{64}/);
  assert.match(unexplained[1] ?? '', /^E1205 20:00:00/);
  assert.match(unexplained[2] ?? '', new RegExp(`d{64}`));
  assert.equal(groups.find((g) => g.reason === undefined && g.key.startsWith('remote_runtime.go:415'))?.count, 2, "'d' (never removed) and '9' (removed 8 minutes earlier)");
  assert.match(unexplained[3] ?? '', /\/kubepods\/burstable/);
  const report = renderReport([{ scenario: 'a|b', ok: true, detail: 'fine' }], groups);
  assert.match(report, /^\| a\\\|b \| pass: fine \|$/m);
  assert.match(report, /UNEXPLAINED: E1205 20:00:00/);
});
