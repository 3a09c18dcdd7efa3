import http from 'node:http';
import https from 'node:https';
import { wsConnect } from '../harness/stream-client';
import { PORTS } from './kubelet';

/**
 * The kubelet's HTTP API as operators and the apiserver use it: the read-only port's /pods, and
 * on the secured port (self-signed, anonymous allowed in the suite's config) /stats/summary,
 * /containerLogs, /run, and the streaming /exec and /portForward (WebSocket, as kubectl does;
 * the kubelet proxies them to the runtime's streaming server).
 */

export interface HttpAnswer {
  status: number;
  body: string;
}

function request(url: string, method = 'GET'): Promise<HttpAnswer> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, rejectUnauthorized: false, timeout: 60_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 60 s`)));
    req.on('error', reject);
    req.end();
  });
}

const SECURE = `https://127.0.0.1:${PORTS.api}`;

/** The parts of a v1.Pod the suite reads. */
export interface Pod {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
  spec: { containers: { name: string }[] };
  status: {
    phase?: string;
    podIP?: string;
    qosClass?: string;
    conditions?: { type: string; status: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  state: { running?: { startedAt: string }; waiting?: { reason?: string; message?: string }; terminated?: Terminated };
  lastState: { terminated?: Terminated };
}

export interface Terminated {
  exitCode: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}

/** The pods the kubelet knows (read-only port). */
export async function kubeletPods(): Promise<Pod[]> {
  const r = await request(`http://127.0.0.1:${PORTS.readOnly}/pods`);
  if (r.status !== 200) throw new Error(`/pods: HTTP ${r.status}: ${r.body}`);
  return ((JSON.parse(r.body) as { items?: Pod[] }).items ?? []);
}

/** GET /stats/summary. */
export function statsSummary(): Promise<HttpAnswer> {
  return request(`${SECURE}/stats/summary`);
}

/** GET /containerLogs/<ns>/<pod>/<container>[?query]. */
export function containerLogs(ns: string, pod: string, container: string, query = ''): Promise<HttpAnswer> {
  return request(`${SECURE}/containerLogs/${ns}/${pod}/${container}${query ? `?${query}` : ''}`);
}

/** POST /run/<ns>/<pod>/<container>?cmd=... (the command is split on spaces by the kubelet). */
export function runInContainer(ns: string, pod: string, container: string, cmd: string): Promise<HttpAnswer> {
  return request(`${SECURE}/run/${ns}/${pod}/${container}?cmd=${encodeURIComponent(cmd)}`, 'POST');
}

/** /exec over WebSocket (v4.channel.k8s.io): stdout, stderr and the exit status document. */
export async function execInContainer(ns: string, pod: string, container: string, command: string[]): Promise<{ stdout: string; stderr: string; status: string }> {
  const q = [...command.map((c) => `command=${encodeURIComponent(c)}`), 'output=1', 'error=1'].join('&');
  const s = await wsConnect(`${SECURE}/exec/${ns}/${pod}/${container}?${q}`, ['v4.channel.k8s.io'], { rejectUnauthorized: false });
  await s.closed;
  return {
    stdout: s.channels.get(1)?.toString() ?? '',
    stderr: s.channels.get(2)?.toString() ?? '',
    status: s.channels.get(3)?.toString() ?? '',
  };
}

/** /portForward over WebSocket: one connection to `port` in the pod, `payload` sent, what came back. */
export async function portForward(ns: string, pod: string, port: number, payload: string): Promise<string> {
  const s = await wsConnect(`${SECURE}/portForward/${ns}/${pod}?port=${port}`, ['v4.channel.k8s.io'], { rejectUnauthorized: false });
  s.send(0, payload);
  await s.closed;
  const data = s.channels.get(0) ?? Buffer.alloc(0);
  // Each channel starts with the port number (2 bytes, little endian).
  return data.subarray(2).toString();
}
