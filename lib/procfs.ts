import { readFileSync } from 'node:fs';

/**
 * Reads a file the kernel generates on read (/proc/<pid>/stat, /proc/<pid>/net/dev,
 * cgroup.procs), for the paths the daemon reads over and over: every second per container
 * (conmon liveness, lib/server/container-monitor.ts), per stats call per pod, per container exit.
 *
 * Why not fs.promises.readFile: such files report size 0, and for a size-0 file it reads in
 * fresh 64 KiB Buffers until a read returns nothing, so each ~300-byte /proc/<pid>/stat cost
 * two 64 KiB ArrayBuffers. With 30 pods that was ~3.8 MiB/s of ArrayBuffer garbage from the
 * monitor check alone, taken from glibc's heap (below its 128 KiB mmap threshold, see
 * lib/server/launch-env.ts) and freed only when V8 collected them: measured on the daemon with
 * 30 pods (issue 17, bench/rss.ts), 1.1-1.7 MiB of `arrayBuffers` waiting for a GC at any time
 * and glibc's heap grown to 14.7 MiB of which 8.6 MiB free. readFileSync with an encoding reads
 * into a native buffer and makes only the string. A read of these files never waits for a disk
 * (the kernel formats them in memory, microseconds), so doing it on the event loop blocks it no
 * longer than the thread-pool hand-off of an asynchronous read would cost.
 *
 * Async (errors reject) so callers keep their await/catch shape; not for files on real disks.
 */
export async function readKernelFile(file: string): Promise<string> {
  return readFileSync(file, 'utf8');
}
