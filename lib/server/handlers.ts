import type { OpContext } from '../context';
import type { StreamingServer } from '../streaming/server';
import type { ServerDeps } from './deps';
import type { ImageHandlers, ResponseSerializers, RpcOptions, RuntimeHandlers } from './grpc-server';
import { attach } from './container-attach';
import { createContainer } from './container-create';
import { getContainerEvents } from './container-events';
import { removePodSandboxWithEvents, runPodSandboxWithEvents, stopPodSandboxWithEvents } from './container-events-pods';
import { exec } from './container-exec';
import { execSync } from './container-exec-sync';
import { encodeListContainersResponse, listContainers } from './container-list';
import { removeContainer } from './container-remove';
import { reopenContainerLog } from './container-reopen-log';
import { startContainer } from './container-start';
import { containerStats } from './container-stats';
import { listContainerStats } from './container-stats-list';
import { containerStatus } from './container-status';
import { stopContainer } from './container-stop';
import { updateContainerResources } from './container-update-resources';
import { listMetricDescriptors } from './metric-descriptors-list';
import { listPodSandboxMetrics } from './sandbox-metrics-list';
import { podSandboxStats } from './sandbox-stats';
import { listPodSandboxStats } from './sandbox-stats-list';
import { streamContainerStats, streamContainers, streamImages, streamPodSandboxMetrics, streamPodSandboxStats, streamPodSandboxes } from './stream-lists';
import { imageFsInfo } from './image-fs-info';
import { listImages } from './image-list';
import { pullImage } from './image-pull';
import { removeImage } from './image-remove';
import { imageStatus } from './image-status';
import { runtimeConfig } from './runtime-config';
import { status } from './runtime-status';
import { version } from './runtime-version';
import { listPodSandbox } from './sandbox-list';
import { portForward } from './sandbox-port-forward';
import { podSandboxStatus } from './sandbox-status';
import { updateRuntimeConfig } from './runtime-update-config';

type WithDeps<Req, Res> = (deps: ServerDeps, ctx: OpContext, req: Req) => Promise<Res>;

function bind<Req, Res>(deps: ServerDeps, fn: WithDeps<Req, Res>): (ctx: OpContext, req: Req) => Promise<Res> {
  return (ctx, req) => fn(deps, ctx, req);
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
    runPodSandbox: bind(deps, runPodSandboxWithEvents),
    stopPodSandbox: bind(deps, stopPodSandboxWithEvents),
    removePodSandbox: bind(deps, removePodSandboxWithEvents),
    podSandboxStatus: bind(deps, podSandboxStatus),
    listPodSandbox: bind(deps, listPodSandbox),
    createContainer: bind(deps, createContainer),
    startContainer: bind(deps, startContainer),
    stopContainer: bind(deps, stopContainer),
    removeContainer: bind(deps, removeContainer),
    containerStatus: bind(deps, containerStatus),
    listContainers: bind(deps, listContainers),
    execSync: bind(deps, execSync),
    exec: streaming && ((ctx, req) => exec(deps, streaming, ctx, req)),
    attach: streaming && ((ctx, req) => attach(deps, streaming, ctx, req)),
    portForward: streaming && ((ctx, req) => portForward(deps, streaming, ctx, req)),
    updateContainerResources: bind(deps, updateContainerResources),
    reopenContainerLog: bind(deps, reopenContainerLog),
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
    pullImage: bind(deps, pullImage),
    listImages: bind(deps, listImages),
    imageStatus: bind(deps, imageStatus),
    removeImage: bind(deps, removeImage),
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

/** ListContainers reuses each container's encoded message (the kubelet polls it constantly). */
export const RESPONSE_SERIALIZERS: ResponseSerializers = {
  listContainers: encodeListContainersResponse,
};
