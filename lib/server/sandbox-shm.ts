import { promises as fs } from 'node:fs';
import path from 'node:path';
import { hasOwnFilesystem } from '../mountinfo';
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

/**
 * Unmounts the pod's /dev/shm; already unmounted is fine. The tmpfs has its own device: when the
 * directory has its parent's (or is gone), there is nothing to unmount and no umount to spawn
 * (a repeated StopPodSandbox, RemovePodSandbox after the stop).
 */
export async function unmountPodShm(shmPath: string): Promise<void> {
  if (!(await hasOwnFilesystem(shmPath))) return;
  await unmount(shmPath, { detach: true });
}
