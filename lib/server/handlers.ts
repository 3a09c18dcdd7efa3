import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import type { ImageHandlers, RpcOptions, RuntimeHandlers } from './grpc-server';
import { createContainer } from './container-create';
import { execSync } from './container-exec-sync';
import { listContainers } from './container-list';
import { removeContainer } from './container-remove';
import { startContainer } from './container-start';
import { containerStatus } from './container-status';
import { stopContainer } from './container-stop';
import { imageFsInfo } from './image-fs-info';
import { listImages } from './image-list';
import { pullImage } from './image-pull';
import { removeImage } from './image-remove';
import { imageStatus } from './image-status';
import { runtimeConfig } from './runtime-config';
import { status } from './runtime-status';
import { version } from './runtime-version';
import { listPodSandbox } from './sandbox-list';
import { removePodSandbox } from './sandbox-remove';
import { runPodSandbox } from './sandbox-run';
import { podSandboxStatus } from './sandbox-status';
import { stopPodSandbox } from './sandbox-stop';
import { updateRuntimeConfig } from './runtime-update-config';

type WithDeps<Req, Res> = (deps: ServerDeps, ctx: OpContext, req: Req) => Promise<Res>;

function bind<Req, Res>(deps: ServerDeps, fn: WithDeps<Req, Res>): (ctx: OpContext, req: Req) => Promise<Res> {
  return (ctx, req) => fn(deps, ctx, req);
}

/** Every RuntimeService RPC crio-ts implements; the rest answer UNIMPLEMENTED. */
export function runtimeHandlers(deps: ServerDeps): RuntimeHandlers {
  return {
    version,
    status: bind(deps, status),
    runtimeConfig: bind(deps, runtimeConfig),
    updateRuntimeConfig: bind(deps, updateRuntimeConfig),
    runPodSandbox: bind(deps, runPodSandbox),
    stopPodSandbox: bind(deps, stopPodSandbox),
    removePodSandbox: bind(deps, removePodSandbox),
    podSandboxStatus: bind(deps, podSandboxStatus),
    listPodSandbox: bind(deps, listPodSandbox),
    createContainer: bind(deps, createContainer),
    startContainer: bind(deps, startContainer),
    stopContainer: bind(deps, stopContainer),
    removeContainer: bind(deps, removeContainer),
    containerStatus: bind(deps, containerStatus),
    listContainers: bind(deps, listContainers),
    execSync: bind(deps, execSync),
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
  };
}

/** Logging options per RPC (PullImage carries credentials: never dump it). */
export const RPC_OPTIONS: RpcOptions = {
  PullImage: { logRequest: false },
  ListContainers: { compactResponse: true },
  ListPodSandbox: { compactResponse: true },
  ListImages: { compactResponse: true },
  ContainerStatus: { compactResponse: true },
  PodSandboxStatus: { compactResponse: true },
};
