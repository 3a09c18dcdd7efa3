import assert from 'node:assert/strict';
import { test } from 'node:test';
import { knownKubeletErrors } from './node-e2e/known-errors';
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
].join('\n');

test('kubeletErrors: E lines only, with local time, source and message', () => {
  const errors = kubeletErrors(LOG);
  assert.equal(errors.length, 9);
  const first = errors[0];
  assert.equal(first?.source, 'server.go:1175');
  assert.match(first?.message ?? '', /^"Failed to set rlimit/);
  const t = new Date(first?.time ?? 0);
  assert.deepEqual([t.getMonth(), t.getDate(), t.getHours(), t.getMinutes(), t.getSeconds(), t.getMilliseconds()], [11, 5, 19, 31, 11, 292]);
});

test('triageErrors: reasons from the run facts; what matches none stays unexplained', () => {
  const year = new Date().getFullYear();
  const down: [number, number] = [new Date(year, 11, 5, 19, 36, 30).getTime(), new Date(year, 11, 5, 19, 37, 0).getTime()];
  const groups = triageErrors(kubeletErrors(LOG), knownKubeletErrors({ ownIds: new Set(['b'.repeat(64)]), runtimeDown: [down], crashLoopPod: 'crashloop-node', teardownFrom: new Map(), staleLogLinks: new Set(['c'.repeat(64)]) }));
  const explained = groups.filter((g) => g.reason !== undefined).map((g) => [g.key.split(' ')[0], g.count]);
  assert.deepEqual(explained, [
    ['server.go:1175', 1],
    ['remote_runtime.go:277', 1],
    ['manager.go:1121', 1],
    ['remote_runtime.go:415', 1],
    ['cadvisor_stats_provider.go:442', 1],
  ]);
  const unexplained = groups.filter((g) => g.reason === undefined).map((g) => g.example);
  assert.equal(unexplained.length, 4, 'an own container unknown to the daemon, an outage outside the restart, a NotFound without a stale log link, a pod cgroup cAdvisor lost');
  assert.match(unexplained[0] ?? '', /crio-b{64}/);
  assert.match(unexplained[1] ?? '', /^E1205 20:00:00/);
  assert.match(unexplained[2] ?? '', new RegExp(`d{64}`));
  assert.match(unexplained[3] ?? '', /\/kubepods\/burstable/);
  const report = renderReport([{ scenario: 'a|b', ok: true, detail: 'fine' }], groups);
  assert.match(report, /^\| a\\\|b \| pass: fine \|$/m);
  assert.match(report, /UNEXPLAINED: E1205 20:00:00/);
});
