import type { OpContext } from '../context';
import type { StreamingServer } from '../streaming/server';
import type { ServerDeps } from './deps';
import type { ImageHandlers, ResponseSerializers, RpcOptions, RuntimeHandlers } from './grpc-server';
import { attach } from './container-attach';
import { getContainerEvents } from './container-events';
import { exec } from './container-exec';
import { encodeListContainersResponse, listContainers } from './container-list';
import { containerStats } from './container-stats';
import { listContainerStats } from './container-stats-list';
import { containerStatus } from './container-status';
import { listMetricDescriptors } from './metric-descriptors-list';
import { listPodSandboxMetrics } from './sandbox-metrics-list';
import { podSandboxStats } from './sandbox-stats';
import { listPodSandboxStats } from './sandbox-stats-list';
import { streamContainerStats, streamContainers, streamImages, streamPodSandboxMetrics, streamPodSandboxStats, streamPodSandboxes } from './stream-lists';
import { imageFsInfo } from './image-fs-info';
import { listImages } from './image-list';
import { imageStatus } from './image-status';
import { runtimeConfig } from './runtime-config';
import { status } from './runtime-status';
import { version } from './runtime-version';
import { encodeListPodSandboxResponse, listPodSandbox } from './sandbox-list';
import { portForward } from './sandbox-port-forward';
import { podSandboxStatus } from './sandbox-status';
import { updateRuntimeConfig } from './runtime-update-config';

/*
 * The RPCs the kubelet polls, and the streaming ones (their modules serve the streaming server
 * anyway), are imported above. The ones that change pods, containers and images load their
 * modules on first use (`require` below): ~70 modules (spec generation, seccomp, CNI setup,
 * pulls) that a node without pods never runs, about 0.5 MiB of heap.
 */
const podRpcs = () => require('./container-events-pods') as typeof import('./container-events-pods');
const createRpc = () => require('./container-create') as typeof import('./container-create');
const startRpc = () => require('./container-start') as typeof import('./container-start');
const stopRpc = () => require('./container-stop') as typeof import('./container-stop');
const removeRpc = () => require('./container-remove') as typeof import('./container-remove');
const execSyncRpc = () => require('./container-exec-sync') as typeof import('./container-exec-sync');
const updateResourcesRpc = () => require('./container-update-resources') as typeof import('./container-update-resources');
const reopenLogRpc = () => require('./container-reopen-log') as typeof import('./container-reopen-log');
const pullRpc = () => require('./image-pull') as typeof import('./image-pull');
const removeImageRpc = () => require('./image-remove') as typeof import('./image-remove');

type WithDeps<Req, Res> = (deps: ServerDeps, ctx: OpContext, req: Req) => Promise<Res>;

function bind<Req, Res>(deps: ServerDeps, fn: WithDeps<Req, Res>): (ctx: OpContext, req: Req) => Promise<Res> {
  return (ctx, req) => fn(deps, ctx, req);
}

/** Like bind, for an RPC that `load` fetches at each call (its module loads on the first; a failed load rejects the call). */
function bindLazy<Req, Res>(deps: ServerDeps, load: () => WithDeps<Req, Res>): (ctx: OpContext, req: Req) => Promise<Res> {
  return async (ctx, req) => load()(deps, ctx, req);
}

type StreamWithDeps<Req, Res> = (deps: ServerDeps, ctx: OpContext, req: Req, send: (msg: Res) => Promise<void>) => Promise<void>;

function bindStream<Req, Res>(deps: ServerDeps, fn: StreamWithDeps<Req, Res>): (ctx: OpContext, req: Req, send: (msg: Res) => Promise<void>) => Promise<void> {
  return (ctx, req, send) => fn(deps, ctx, req, send);
}

/** Every RuntimeService RPC crio-ts implements; the rest answer UNIMPLEMENTED (Exec, Attach, PortForward too without a streaming server). */
export function runtimeHandlers(deps: ServerDeps, streaming?: StreamingServer): RuntimeHandlers {
  return {
    version,
    status: bind(deps, status),
    runtimeConfig: bind(deps, runtimeConfig),
    updateRuntimeConfig: bind(deps, updateRuntimeConfig),
    // The pod RPCs with their GetContainerEvents events.
    runPodSandbox: bindLazy(deps, () => podRpcs().runPodSandboxWithEvents),
    stopPodSandbox: bindLazy(deps, () => podRpcs().stopPodSandboxWithEvents),
    removePodSandbox: bindLazy(deps, () => podRpcs().removePodSandboxWithEvents),
    podSandboxStatus: bind(deps, podSandboxStatus),
    listPodSandbox: bind(deps, listPodSandbox),
    createContainer: bindLazy(deps, () => createRpc().createContainer),
    startContainer: bindLazy(deps, () => startRpc().startContainer),
    stopContainer: bindLazy(deps, () => stopRpc().stopContainer),
    removeContainer: bindLazy(deps, () => removeRpc().removeContainer),
    containerStatus: bind(deps, containerStatus),
    listContainers: bind(deps, listContainers),
    execSync: bindLazy(deps, () => execSyncRpc().execSync),
    exec: streaming && ((ctx, req) => exec(deps, streaming, ctx, req)),
    attach: streaming && ((ctx, req) => attach(deps, streaming, ctx, req)),
    portForward: streaming && ((ctx, req) => portForward(deps, streaming, ctx, req)),
    updateContainerResources: bindLazy(deps, () => updateResourcesRpc().updateContainerResources),
    reopenContainerLog: bindLazy(deps, () => reopenLogRpc().reopenContainerLog),
    containerStats: bind(deps, containerStats),
    listContainerStats: bind(deps, listContainerStats),
    podSandboxStats: bind(deps, podSandboxStats),
    listPodSandboxStats: bind(deps, listPodSandboxStats),
    listMetricDescriptors: bind(deps, listMetricDescriptors),
    listPodSandboxMetrics: bind(deps, listPodSandboxMetrics),
    streamPodSandboxes: bindStream(deps, streamPodSandboxes),
    streamContainers: bindStream(deps, streamContainers),
    streamContainerStats: bindStream(deps, streamContainerStats),
    streamPodSandboxStats: bindStream(deps, streamPodSandboxStats),
    streamPodSandboxMetrics: bindStream(deps, streamPodSandboxMetrics),
    getContainerEvents: bindStream(deps, getContainerEvents),
  };
}

/** Every ImageService RPC. */
export function imageHandlers(deps: ServerDeps): ImageHandlers {
  return {
    pullImage: bindLazy(deps, () => pullRpc().pullImage),
    listImages: bind(deps, listImages),
    imageStatus: bind(deps, imageStatus),
    removeImage: bindLazy(deps, () => removeImageRpc().removeImage),
    imageFsInfo: bind(deps, imageFsInfo),
    streamImages: bindStream(deps, streamImages),
  };
}

/** Logging options per RPC (PullImage carries credentials: never dump it). */
export const RPC_OPTIONS: RpcOptions = {
  PullImage: { logRequest: false },
  ListContainers: { compactResponse: true },
  ListPodSandbox: { compactResponse: true },
  ListImages: { compactResponse: true },
  ContainerStatus: { compactResponse: true },
  // Up to 2 × 16 MiB of output: dumping it into the debug log would cost seconds.
  ExecSync: { compactResponse: true },
  ListContainerStats: { compactResponse: true },
  ListPodSandboxStats: { compactResponse: true },
  ListPodSandboxMetrics: { compactResponse: true },
  PodSandboxStatus: { compactResponse: true },
};

/** ListContainers and ListPodSandbox reuse each item's encoded message (the kubelet polls them constantly). */
export const RESPONSE_SERIALIZERS: ResponseSerializers = {
  listContainers: encodeListContainersResponse,
  listPodSandbox: encodeListPodSandboxResponse,
};
