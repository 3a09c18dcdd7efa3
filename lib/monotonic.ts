/**
 * Milliseconds on the monotonic clock, for time slices and durations. Same clock as
 * `performance.now()` but without node:perf_hooks, which (with the histogram and observer modules
 * it loads) costs ~0.6 MiB of RSS in a daemon that would load it only for this (issue 17).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
