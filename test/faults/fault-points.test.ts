import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startFaultFixture, type FaultFixture } from './fault-fixture';
import { invariantViolations } from './host-state';
import { PULL_IMAGE, SCENARIOS, type Cycle, type Scenario } from './scenarios';
import { printTable, type Row } from './fault-table';
import { monitorCases, stallCases, STALL_IMAGE, stallImage } from './fault-cases';
import { startStallProxy, type StallProxy } from './stall-proxy';

/*
 * The daemon SIGKILLed at every step of RunPodSandbox, CreateContainer, StartContainer,
 * StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox, PullImage and ExecSync
 * (lib/fault-points.ts), then restarted; the operation is retried as the kubelet would, and the
 * invariants of host-state.ts must hold. The steps are not listed here: a first pass runs each
 * operation with CRIO_TS_FAULT_POINT=trace and takes the steps the daemon reports, so a step
 * added to the code is crashed at without touching this file. To keep the suite short, the
 * restart after a crash already arms the next step (of another RPC, so the retry cannot hit
 * it). Then conmon deaths and a stalling registry. A table of every case and its outcome is
 * printed at the end.
 */

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
let f: FaultFixture;
let proxy: StallProxy;
const rows: Row[] = [];
/** Where the crash cases spend their time (ms per phase, summed). */
const spent: Record<string, number> = {};

before(async () => {
  if (skip) return;
  const stall = await stallImage();
  f = await startFaultFixture({
    netIndex: 162,
    extra: {
      [PULL_IMAGE]: { extraLayers: [{ files: [{ path: 'one', content: '1\n' }] }, { files: [{ path: 'two', content: '2\n' }] }] },
    },
    // A pull that makes no progress for this long fails (CRI-O's default 0s waits forever).
    dropIn: 'pull_progress_timeout = "3s"\n',
  });
  // The stalling proxy sits between the daemon and the fixture's registry for one image.
  proxy = await startStallProxy(f.registry.host, [stall.layers.at(-1)?.digest ?? '']);
  await f.registry.push(`library/${STALL_IMAGE}`, 'latest', stall);
  await f.setRegistriesConf(`[[registry]]\nprefix = "docker.io/library/${STALL_IMAGE}"\nlocation = "${proxy.host}/library/${STALL_IMAGE}"\ninsecure = true\n`);
});

after(async () => {
  if (rows.length > 0) printTable(rows);
  if (Object.keys(spent).length > 0) process.stderr.write(`time per phase, all crash cases (ms): ${JSON.stringify(Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, Math.round(v)])))}\n`);
  await proxy?.close();
  await f?.cleanup();
});

interface PlanItem {
  s: Scenario;
  point: string;
  nth: number;
  /** Pod scenarios: the step exists only with an infra container. */
  infra: boolean;
}

const spec = (p: PlanItem): Record<string, string> => ({ CRIO_TS_FAULT_POINT: `${p.s.rpc}/${p.point}@${p.nth}` });

/** Stops and removes every pod; the failures, as violations. */
async function removeAllPods(): Promise<string[]> {
  const rt = f.daemon.cri.runtime;
  const bad: string[] = [];
  for (const p of (await rt.listPodSandbox({})).items) {
    await rt.stopPodSandbox({ podSandboxId: p.id }).catch((err: Error) => bad.push(`StopPodSandbox ${p.id.slice(0, 12)}: ${err.message}`));
    await rt.removePodSandbox({ podSandboxId: p.id }).catch((err: Error) => bad.push(`RemovePodSandbox ${p.id.slice(0, 12)}: ${err.message}`));
  }
  return bad;
}

/** The steps (`point@n`) one run of the scenario's operation passes, from a daemon in trace mode. */
async function traceSteps(s: Scenario, infra: boolean): Promise<string[]> {
  const c: Cycle = { f, name: `trace-${s.rpc.toLowerCase()}${infra ? '-infra' : ''}`, infra };
  await s.setup(c);
  const mark = f.daemon.logs().length;
  await s.op(c);
  const seen = new Map<string, number>();
  const steps: string[] = [];
  for (const m of f.daemon.logs().slice(mark).matchAll(/^fault-point (\S+) (\S+)$/gm)) {
    if (m[1] !== s.rpc) continue;
    const nth = (seen.get(m[2] ?? '') ?? 0) + 1;
    seen.set(m[2] ?? '', nth);
    steps.push(`${m[2] ?? ''}@${nth}`);
  }
  return steps;
}

/**
 * Every step of every operation, from a daemon in trace mode. Pod operations are traced with an
 * infra container too; a step is crashed with one only when it exists only with one.
 */
async function tracePlan(): Promise<PlanItem[][]> {
  await f.daemon.restart({ CRIO_TS_FAULT_POINT: 'trace' });
  const perRpc: PlanItem[][] = [];
  for (const s of SCENARIOS) {
    const lean = await traceSteps(s, false);
    const full = s.pod ? await traceSteps(s, true) : lean;
    const items = full.map((step) => {
      const [point = '', nth = '1'] = step.split('@');
      return { s, point, nth: Number(nth), infra: !lean.includes(step) };
    });
    assert.ok(items.length > 0, `${s.rpc} passes no fault point`);
    perRpc.push(items);
  }
  assert.deepEqual(await removeAllPods(), []);
  assert.deepEqual(await invariantViolations(f.daemon), [], 'consistent before any crash');
  return perRpc;
}

/** Round robin over the operations, so consecutive steps belong to different RPCs. */
function interleave(perRpc: PlanItem[][]): PlanItem[] {
  const queues = perRpc.map((q) => [...q]);
  const plan: PlanItem[] = [];
  while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) plan.push(q.shift() as PlanItem);
  return plan;
}

/** Whether the daemon died within `ms`, at the armed step. */
async function diedAt(item: PlanItem, ms: number): Promise<boolean> {
  const exited = await Promise.race([f.daemon.exited(), new Promise((r) => setTimeout(() => r('alive'), ms))]);
  return exited === 'SIGKILL' && f.daemon.logs().includes(`fault-point ${item.s.rpc} ${item.point} reached: SIGKILL`);
}

test('a SIGKILL at every step of every operation: restart, retry, invariants', { skip, timeout: 600_000 }, async () => {
  const plan = interleave(await tracePlan());
  await f.daemon.restart(spec(plan[0] as PlanItem));
  for (let i = 0; i < plan.length; i++) {
    const item = plan[i] as PlanItem;
    const next = plan[i + 1];
    const c: Cycle = { f, name: `f${i}-${item.s.rpc.toLowerCase()}`, infra: item.infra };
    const t0 = performance.now();
    const phases: Record<string, number> = {};
    const lap = (phase: string): void => void (phases[phase] = performance.now());
    await item.s.setup(c);
    lap('setup');
    const opResult = await item.s.op(c).then(
      () => 'answered',
      () => 'failed',
    );
    const killed = await diedAt(item, opResult === 'answered' ? 2_000 : 30_000);
    lap('op');
    // Arm the next step at this restart unless it belongs to the same RPC (the retry would hit it).
    const chain = next !== undefined && next.s.rpc !== item.s.rpc;
    await f.daemon.restart(chain ? spec(next) : {});
    lap('restart');
    const retry = await item.s.retry(c);
    lap('retry');
    const effect = await item.s.check(c);
    const invariants = await invariantViolations(f.daemon);
    lap('check');
    // Clearing pods uses StopPodSandbox and RemovePodSandbox: not while one of their steps is armed.
    const cleared = !chain || !['StopPodSandbox', 'RemovePodSandbox'].includes(next.s.rpc) ? await removeAllPods() : [];
    if (!chain && next) await f.daemon.restart(spec(next));
    lap('clean-up');
    let prev = t0;
    for (const [phase, at] of Object.entries(phases)) {
      spent[phase] = (spent[phase] ?? 0) + at - prev;
      prev = at;
    }
    rows.push({ what: item.s.rpc + (item.infra ? ' (infra)' : ''), point: `${item.point}@${item.nth}`, killed, retry, violations: [...effect, ...invariants, ...cleared], ms: prev - t0 });
  }
  await f.daemon.restart({});
  const last = [...(await removeAllPods()), ...(await invariantViolations(f.daemon))];
  rows.push({ what: '(all)', point: 'stop and remove everything', killed: false, retry: 'ok', violations: last });
  // Only StartContainer may answer its retry with an error: "already running" when the start took effect before the crash.
  const retryOk = (r: Row): boolean => r.retry.startsWith('ok') || (r.what === 'StartContainer' && r.retry === 'FAILED_PRECONDITION');
  const failed = rows.filter((r) => r.violations.length > 0 || (!r.killed && r.what !== '(all)') || !retryOk(r));
  assert.deepEqual(failed, []);
  assert.deepEqual((await f.daemon.cri.runtime.listContainers({})).containers, []);
});

test('monitor deaths: conmon killed with the daemon up and down', { skip }, async () => {
  for (const row of await monitorCases(f)) rows.push(row);
  assert.deepEqual(rows.filter((r) => r.what === 'monitor death' && r.violations.length > 0), []);
});

test('a stalling registry: deadlines, pull_progress_timeout and a crash mid-stall leave no half image', { skip }, async () => {
  for (const row of await stallCases(f, proxy)) rows.push(row);
  assert.deepEqual(rows.filter((r) => r.what === 'registry stall' && (r.violations.length > 0 || !r.retry.startsWith('ok'))), []);
});
