import type {
  StreamContainerStatsRequest,
  StreamContainerStatsResponse,
  StreamContainersRequest,
  StreamContainersResponse,
  StreamImagesRequest,
  StreamImagesResponse,
  StreamPodSandboxMetricsRequest,
  StreamPodSandboxMetricsResponse,
  StreamPodSandboxStatsRequest,
  StreamPodSandboxStatsResponse,
  StreamPodSandboxesRequest,
  StreamPodSandboxesResponse,
} from '../cri/gen/api';
import type { OpContext } from '../context';
import { listContainers } from './container-list';
import { listContainerStatsOf } from './container-stats-list';
import type { ServerDeps } from './deps';
import { listImages } from './image-list';
import { listPodSandbox } from './sandbox-list';
import { allPodMetrics } from './sandbox-metrics-list';
import { listPodSandboxStatsOf } from './sandbox-stats-list';

/**
 * The Stream* list RPCs of KEP-5825 (kubelet's CRIListStreaming): the unary list, sent in chunks
 * so no single message hits the gRPC size limit. CRI-O does the same with the same chunk size;
 * an empty list sends no message.
 */

/** Items per streamed message (CRI-O's streamChunkSize). */
export const STREAM_CHUNK_SIZE = 3000;

type Send<T> = (msg: T) => Promise<void>;

async function inChunks<I, M>(items: I[], wrap: (chunk: I[]) => M, send: Send<M>): Promise<void> {
  for (let i = 0; i < items.length; i += STREAM_CHUNK_SIZE) await send(wrap(items.slice(i, i + STREAM_CHUNK_SIZE)));
}

/** StreamPodSandboxes. */
export async function streamPodSandboxes(
  deps: ServerDeps,
  ctx: OpContext,
  req: StreamPodSandboxesRequest,
  send: Send<StreamPodSandboxesResponse>,
): Promise<void> {
  const { items } = await listPodSandbox(deps, ctx, { filter: req.filter });
  await inChunks(items, (podSandboxes) => ({ podSandboxes }), send);
}

/** StreamContainers. */
export async function streamContainers(deps: ServerDeps, ctx: OpContext, req: StreamContainersRequest, send: Send<StreamContainersResponse>): Promise<void> {
  const { containers } = await listContainers(deps, ctx, { filter: req.filter });
  await inChunks(containers, (chunk) => ({ containers: chunk }), send);
}

/** StreamContainerStats. */
export async function streamContainerStats(
  deps: ServerDeps,
  _ctx: OpContext,
  req: StreamContainerStatsRequest,
  send: Send<StreamContainerStatsResponse>,
): Promise<void> {
  await inChunks(await listContainerStatsOf(deps, req.filter), (containerStats) => ({ containerStats }), send);
}

/** StreamPodSandboxStats. */
export async function streamPodSandboxStats(
  deps: ServerDeps,
  _ctx: OpContext,
  req: StreamPodSandboxStatsRequest,
  send: Send<StreamPodSandboxStatsResponse>,
): Promise<void> {
  await inChunks(await listPodSandboxStatsOf(deps, req.filter), (podSandboxStats) => ({ podSandboxStats }), send);
}

/** StreamPodSandboxMetrics. */
export async function streamPodSandboxMetrics(
  deps: ServerDeps,
  _ctx: OpContext,
  _req: StreamPodSandboxMetricsRequest,
  send: Send<StreamPodSandboxMetricsResponse>,
): Promise<void> {
  await inChunks(await allPodMetrics(deps), (podSandboxMetrics) => ({ podSandboxMetrics }), send);
}

/** StreamImages (ImageService). */
export async function streamImages(deps: ServerDeps, ctx: OpContext, req: StreamImagesRequest, send: Send<StreamImagesResponse>): Promise<void> {
  const { images } = await listImages(deps, ctx, { filter: req.filter });
  await inChunks(images, (chunk) => ({ images: chunk }), send);
}
