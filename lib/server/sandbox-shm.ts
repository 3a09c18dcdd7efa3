import { promises as fs } from 'node:fs';
import path from 'node:path';
import { unmount } from '../storage/mount';

/** CRI-O's default /dev/shm size for a pod (64 MiB). */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/**
 * Creates the mount point of the pod's /dev/shm under the pod dir. The tmpfs itself is mounted
 * by the spawn that creates the pod namespaces (one process instead of two).
 */
export async function preparePodShmDir(podDir: string): Promise<string> {
  const target = path.join(podDir, 'shm');
  await fs.mkdir(target, { recursive: true, mode: 0o1777 });
  return target;
}

/** Unmounts the pod's /dev/shm; already unmounted is fine. */
export async function unmountPodShm(shmPath: string): Promise<void> {
  await unmount(shmPath, { detach: true });
}
