import { closeSync, openSync, readSync } from 'node:fs';

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

/**
 * Node and V8 flags the daemon is started with, on node's command line after the same launchers'
 * `node` (the shebang of cmd/crio.ts, `scripts/setup.sh daemon`; the test harness reads them
 * from the shebang of the script it starts, see shebangNodeArgs). V8 reads these only when it
 * creates the isolate, so v8-flags.ts (setFlagsFromString) is too late, and NODE_OPTIONS refuses
 * V8 flags. Node exits on a flag it does not know: launch-env.test.ts starts this node with them.
 *
 * `--no-icu-timezone-data`: V8 takes the local time zone from the C library (localtime_r, as
 * without ICU) instead of ICU. Every gRPC response carries an HTTP/2 `date` header (node's
 * http2 adds it, Date#toUTCString), and V8 formats each date string with the zone's display
 * name, which made ICU load its time zone names: measured on the idle daemon (issue 17),
 * file-backed RSS 42.7 -> 41.9 MiB. Offsets, DST and local fields are the same (checked for
 * UTC, Europe/Berlin, America/New_York, Asia/Kolkata, Australia/Lord_Howe); only the name in
 * Date#toString() becomes the C library's short one ("CET", not "Central European Standard
 * Time"), which the daemon does not use. Intl still uses ICU.
 * Tried on the command line and not kept (idle RSS, issue 17): `--single-threaded-gc`,
 * `--v8-pool-size=1`, `--max-semi-space-size=1`, `--max-lazy`: no change (±0.1 MiB);
 * `--max-opt=1` (no TurboFan): −3.5 MiB of node's code pages at idle, which a daemon gets back
 * as soon as the kubelet's polling makes any function hot, at a multiple of the CPU per RPC.
 *
 * `--expose-gc`: the global `gc` with which lib/memory-upkeep.ts collects after the heap grew
 * (V8's own memory reducer waits for a full GC that a burst of RPCs does not bring; see there).
 * Nothing else changes; without it the daemon only trims malloc.
 */
export const DAEMON_NODE_ARGS: readonly string[] = ['--no-icu-timezone-data', '--expose-gc'];

/**
 * The node flags a script's shebang asks for: `#!/usr/bin/env -S [VAR=value…] node <flags>`
 * gives <flags>; any other first line gives none. The harness starts `node <flags> crio.js`
 * with them, so a test or bench daemon runs as the `crio` command does, and an older build
 * (benches compare builds A/B) with its own.
 */
export function shebangNodeArgs(firstLine: string): string[] {
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(firstLine.split('\n')[0] ?? '');
  if (!m?.[1]) return [];
  const words = m[1].trim().split(/\s+/);
  const node = words.findIndex((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  return node < 0 || words[node] !== 'node' ? [] : words.slice(node + 1);
}

/** The first line of a file (its shebang), read without loading the whole script. */
export function firstLine(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
  } finally {
    closeSync(fd);
  }
}
