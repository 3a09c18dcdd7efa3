import { promises as fs } from 'node:fs';
import path from 'node:path';
import { mount, unmount } from '../storage/mount';

/** CRI-O's default /dev/shm size for a pod (64 MiB). */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** Mounts the pod's private /dev/shm (a tmpfs shared by its containers) under the pod dir. */
export async function mountPodShm(podDir: string, sizeBytes = DEFAULT_SHM_SIZE): Promise<string> {
  const target = path.join(podDir, 'shm');
  await fs.mkdir(target, { recursive: true, mode: 0o1777 });
  await mount({
    source: 'shm',
    fstype: 'tmpfs',
    target,
    options: ['rw', 'nosuid', 'nodev', 'noexec', 'mode=1777', `size=${sizeBytes}`],
  });
  return target;
}

/** Unmounts the pod's /dev/shm; already unmounted is fine. */
export async function unmountPodShm(shmPath: string): Promise<void> {
  await unmount(shmPath, { detach: true });
}
