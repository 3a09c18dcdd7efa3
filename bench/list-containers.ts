import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Client, credentials, Metadata, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { ListContainersRequest, ListContainersResponse, type ListContainersResponse as ListContainersResponseMsg } from '../lib/cri/gen/api';
import { createLogger } from '../lib/log';
import { listContainers } from '../lib/server/container-list';
import type { ServerDeps } from '../lib/server/deps';
import { RESPONSE_SERIALIZERS, RPC_OPTIONS } from '../lib/server/handlers';
import { unary } from '../lib/server/unary';
import { validateContainerRecord, type ContainerRecord } from '../lib/state/records';
import type { TestDaemon } from '../test/harness/daemon';
import { cpuMs, daemonPid } from './proc-memory';
import { rowFine, sample } from './stats';

/**
 * ListContainers taken apart, so server time is never confused with client decoding:
 *  - the project's client (generated grpc-js client + ts-proto decode), default and 16 MiB window;
 *  - a lean client (raw grpc-js, response bytes passed through undecoded, 16 MiB window like
 *    gRPC-Go's BDP estimation gives the kubelet): server + transport, what a Go client waits for
 *    before its own (much faster) decode;
 *  - Version through the same lean client: the fixed cost of one gRPC round trip here;
 *  - decoding the same response bytes with ts-proto, alone;
 *  - the daemon's CPU time per call (from /proc, over many calls): the server side's whole cost,
 *    grpc-js, HTTP/2 and the socket writes included, whatever client waits on the other end;
 *  - the daemon's own JS per call (the unary wrapper, filter, messages, cached encoding) on the
 *    same records, in this process.
 */

const RPC = '/runtime.v1.RuntimeService';
const WIDE = { 'grpc-node.flow_control_window': 16 << 20, 'grpc.max_receive_message_length': -1 };

function rawCall(client: Client, method: string, deadlineMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `${RPC}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0), // both requests are empty messages
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err: ServiceError | null, res?: Buffer) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)),
    );
  });
}

/** The daemon's CPU ms per call of `fn`, over `n` calls. */
async function daemonCpuPerCall(pid: number, n: number, fn: () => Promise<unknown>): Promise<number> {
  const before = await cpuMs(pid);
  for (let i = 0; i < n; i++) await fn();
  return ((await cpuMs(pid)) - before) / n;
}

async function loadRecords(daemon: TestDaemon): Promise<ContainerRecord[]> {
  const dir = path.join(daemon.dir, 'root', 'crio-state', 'containers');
  const records: ContainerRecord[] = [];
  for (const f of (await fs.readdir(dir)).filter((n) => n.endsWith('.json'))) {
    records.push(validateContainerRecord(JSON.parse(await fs.readFile(path.join(dir, f), 'utf8'))));
  }
  return records;
}

/** The daemon's JS for one ListContainers call, as it runs there (warn-level logger, no deadline timer left behind). */
function inProcessServer(records: ContainerRecord[]): () => Promise<Buffer> {
  const deps = { containers: { list: () => records } } as unknown as ServerDeps;
  const handler = unary('ListContainers', createLogger({ level: 'warn' }), (ctx, req: ListContainersRequest) => listContainers(deps, ctx, req), RPC_OPTIONS.ListContainers);
  const serialize = RESPONSE_SERIALIZERS.listContainers as (res: ListContainersResponseMsg) => Buffer;
  const request = ListContainersRequest.fromPartial({});
  return () =>
    new Promise((resolve, reject) => {
      const call = { request, on: () => call, getDeadline: () => Infinity } as unknown as ServerUnaryCall<ListContainersRequest, ListContainersResponseMsg>;
      handler(call, (err, res) => (err || !res ? reject(err ?? new Error('no response')) : resolve(serialize(res))));
    });
}

/** Figures lines for ListContainers against `daemon` as it is now (n timed calls each). */
export async function measureListContainers(daemon: TestDaemon, n: number): Promise<string[]> {
  const count = (await daemon.cri.runtime.listContainers({})).containers.length;
  const lines: string[] = [];
  const lean = new Client(`unix://${daemon.socket}`, credentials.createInsecure(), WIDE);
  try {
    const bytes = await rawCall(lean, 'ListContainers');
    lines.push(`ListContainers with ${count} containers: response ${(bytes.length / 1024).toFixed(0)} KiB`);
    lines.push(rowFine('  e2e, project client (64 KiB window)', await sample(n, () => daemon.cri.runtime.listContainers({}))));
    lines.push(rowFine('  e2e, project client (16 MiB window)', await sample(n, async () => ListContainersResponse.decode(await rawCall(lean, 'ListContainers')))));
    lines.push(rowFine('  lean client, bytes only (server + transport)', await sample(n, () => rawCall(lean, 'ListContainers'))));
    lines.push(rowFine('  lean client, Version (one gRPC round trip)', await sample(n, () => rawCall(lean, 'Version'))));
    lines.push(rowFine('  client decode alone (ts-proto)', await sample(n, async () => ListContainersResponse.decode(bytes))));
    const pid = await daemonPid(daemon);
    const calls = Math.max(n, 500);
    const listCpu = await daemonCpuPerCall(pid, calls, () => rawCall(lean, 'ListContainers'));
    const versionCpu = await daemonCpuPerCall(pid, calls, () => rawCall(lean, 'Version'));
    lines.push(`  daemon CPU per call: ListContainers ${listCpu.toFixed(2)} ms, Version ${versionCpu.toFixed(2)} ms (n=${calls} each)`);
    const records = await loadRecords(daemon);
    const server = inProcessServer(records);
    if ((await server()).length !== bytes.length) lines.push('  (note: the records on disk differ from what the daemon answered)');
    lines.push(rowFine(`  server JS per call (wrapper + list + encode, ${records.length})`, await sample(n, server)));
  } finally {
    lean.close();
  }
  return lines;
}
