import type { ImageFsInfoRequest, ImageFsInfoResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';

/** ImageFsInfo: bytes and inodes used by image layers and by container writable layers. */
export async function imageFsInfo(deps: ServerDeps, _ctx: OpContext, _req: ImageFsInfoRequest): Promise<ImageFsInfoResponse> {
  const timestamp = BigInt(Date.now()) * 1_000_000n;
  const images = await deps.images.fsUsage();
  const containers = await deps.containerLayers.totalUsage();
  return {
    imageFilesystems: [
      {
        timestamp,
        fsId: { mountpoint: deps.config.crio.root },
        usedBytes: { value: BigInt(images.bytes) },
        inodesUsed: { value: BigInt(images.inodes) },
      },
    ],
    containerFilesystems: [
      {
        timestamp,
        fsId: { mountpoint: deps.config.crio.root },
        usedBytes: { value: BigInt(containers.bytes) },
        inodesUsed: { value: BigInt(containers.inodes) },
      },
    ],
  };
}
