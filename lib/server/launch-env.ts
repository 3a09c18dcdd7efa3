/**
 * Environment the daemon should be started with: settings that only hold when they are there
 * before the process starts, so the launchers set them (contrib/systemd/crio.service,
 * `scripts/setup.sh daemon`, the test harness, and the shebang of cmd/crio.ts for `crio` run as
 * a command); `node build/cmd/crio.js` without them still works, only with a few MiB more
 * resident memory. launch-env.test.ts checks that the launchers
 * carry the same value.
 *
 * glibc's malloc, not V8, holds what remains of the ~3 MB of source the daemon compiles at start
 * (parser and compiler scratch memory): by default glibc raises its mmap threshold each time a
 * large block is freed, so later large blocks come from the heap, whose freed pages it keeps.
 * A fixed `mmap_threshold` (128 KiB, glibc's own starting value) keeps large blocks in their own
 * mappings, returned when freed; `arena_max=2` keeps the ten threads of node (libuv's pool, V8's
 * workers) from each holding a malloc arena of their own. Measured on the idle daemon (issue 17,
 * bench/idle-rss.ts): 63.6 → 60.9 MiB.
 * Not 32 KiB (measured, issue 17): 64 KiB read buffers (/proc, cgroup, pipe and socket reads)
 * then come from mmap and no longer fragment the heap, so RSS with 30 pods fell 72.2 → 69.1 MiB
 * (bench/rss.ts 30), but each 64 KiB download read became an mmap, page faults and a munmap on
 * another thread: pull throughput 45–48 → 30 MB/s, system CPU 7.3 → 12 s (bench/pull.js big).
 */
export const DAEMON_GLIBC_TUNABLES = 'glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2';

/** The environment variables to add when starting the daemon; an operator's own GLIBC_TUNABLES wins. */
export function daemonLaunchEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env['GLIBC_TUNABLES'] === undefined ? { GLIBC_TUNABLES: DAEMON_GLIBC_TUNABLES } : {};
}
