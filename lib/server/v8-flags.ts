import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for the daemon, a long-running process that is idle most of the time, applied
 * when this module loads: cmd/crio.ts imports it before anything else, so they already hold
 * while the daemon's ~400 modules are compiled (the start-up's biggest burst of garbage).
 *
 * `--semi-space-growth-factor=1` keeps the young generation at its initial 2 × 1 MiB instead of
 * letting it grow to 2 × 16 MiB at the first burst of work: measured on the daemon, RSS right
 * after start 73–75 → 66 MiB, settled idle 65–73 → 63 MiB (whether V8's memory reducer runs
 * varies), and the daemon's CPU per RPC and pull throughput did not get worse beyond noise
 * (bench/rss.ts, bench/pull.ts). V8 reads this flag whenever it considers growing the young
 * generation, so setting it at run time takes effect (v8-flags.test.ts checks it). The direct
 * knob, `--max-semi-space-size`, is read only when the heap is set up: set here it does nothing
 * (measured), and a re-exec with it on the command line would cost a second start-up.
 * Not set: `--bytecode-old-age=1` (a full GC drops the bytecode of functions not run since the
 * previous one; V8 waits for 5): it takes effect at run time and the idle daemon's bytecode fell
 * 0.77 → 0.21 MB (idle RSS −0.7 MiB), but RSS after polling and a pull did not fall, and the
 * daemon's CPU per PullImage (4 × 12 MiB layers) rose ~10% (A/B in one run, 3 runs: recompiling
 * what the pull's GCs dropped). `--max-old-space-size` (a limit low enough to matter could fail a big pull), and
 * `--no-opt` (saves ~4 MiB of TurboFan code pages but doubles the CPU of every RPC). Add flags
 * here only after trying them on the running daemon: not every flag may change after start
 * (`--single-threaded-gc` set this way made V8 abort).
 */

/** The flags applied. */
export const DAEMON_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1'];

for (const flag of DAEMON_V8_FLAGS) setFlagsFromString(flag);
