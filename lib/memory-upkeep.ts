import { getHeapStatistics } from 'node:v8';
import { trimMalloc } from './malloc-trim';

/**
 * Keeps a long-running, mostly idle daemon's memory near what it uses: every UPKEEP_INTERVAL_MS,
 * a full V8 garbage collection if the V8 heap has grown by HEAP_GROWTH_BYTES since the last
 * one this module ran, then glibc's malloc_trim (lib/malloc-trim.ts).
 *
 * Why collect ourselves: V8's memory reducer, which shrinks the heap once a process goes quiet,
 * only starts after a full (mark-compact) GC. A burst of RPCs (the kubelet's polling, a pull,
 * pods starting) mostly ends in young-generation collections whose survivors fill old-space
 * pages, and no full GC comes until the old generation reaches its limit, so the garbage and the
 * half-empty pages stay resident however long the daemon then idles. Measured on the daemon
 * (issue 17, bench/rss.ts stages, a forced full GC + malloc_trim once settled): after 300
 * polling rounds 63.1 -> 60.6 MiB, after a pull 65.9 -> 64.0, with 30 pods 68.0 -> 67.1. Go
 * daemons (CRI-O) get the same from their runtime: a GC at least every 2 minutes, and a
 * scavenger that returns free pages. The collection also frees the native memory behind dead
 * Buffers and handles, which is what makes the trim after it return pages.
 *
 * Cost: a full GC of this heap (~10-15 MiB) pauses the event loop 10-25 ms on this VM (two per
 * upkeep), only after the heap grew: nothing while idle and settled, at most two per interval
 * under constant load. The daemon's CPU per List/Status call did not move (issue 17 A/B,
 * bench/list-status.ts, 30 and 40 pods). `gc` exists only when node runs with --expose-gc (every
 * launcher passes it, lib/server/launch-env.ts); without it only the trim runs.
 */

/** How often the heap is looked at. */
export const UPKEEP_INTERVAL_MS = 10_000;
/** V8 heap growth (committed bytes) since the last collection that makes the next tick collect. */
export const HEAP_GROWTH_BYTES = 1 << 20;
/** Between the two collections of one upkeep (V8's memory reducer waits 500 ms). */
const SECOND_COLLECTION_DELAY_MS = 1000;

/**
 * When to collect: the V8 heap's committed size is compared with the smallest size seen since
 * the last collection (V8 shrinking the heap on its own lowers the mark; pages a collection
 * frees are released a little later, so the size right after it is only an upper bound).
 */
export class HeapGrowth {
  private mark: number;

  constructor(heapBytes: number) {
    this.mark = heapBytes;
  }

  /** Whether the heap, now `heapBytes`, has grown enough to collect. */
  grown(heapBytes: number): boolean {
    this.mark = Math.min(this.mark, heapBytes);
    return heapBytes - this.mark >= HEAP_GROWTH_BYTES;
  }

  /** Call after collecting, with the heap's size then. */
  collected(heapBytes: number): void {
    this.mark = heapBytes;
  }
}

/** A full collection (V8's gc extension), if node exposes it. */
type Collect = () => void;

function exposedGc(): Collect | undefined {
  const gc = globalThis.gc;
  // No argument: a full, synchronous mark-compact (node 20's V8 made `{ type: 'major' }` a scavenge).
  return gc ? () => gc() : undefined;
}

/** Starts the periodic upkeep (the timer does not keep the process alive); returns its stop function. */
export function startMemoryUpkeep(intervalMs = UPKEEP_INTERVAL_MS, collect: Collect | undefined = exposedGc(), heapSize = (): number => getHeapStatistics().total_heap_size): () => void {
  const growth = new HeapGrowth(heapSize());
  let second: NodeJS.Timeout | undefined;
  const timer = setInterval(() => {
    if (second) return;
    if (!collect || !growth.grown(heapSize())) {
      trimMalloc();
      return;
    }
    collect();
    growth.collected(heapSize());
    // A second collection once the first has been swept, as V8's memory reducer runs them: the
    // first one's marking tells the second which half-empty pages to compact and release.
    second = setTimeout(() => {
      second = undefined;
      collect();
      growth.collected(heapSize());
      trimMalloc();
    }, Math.min(SECOND_COLLECTION_DELAY_MS, intervalMs / 2));
    second.unref();
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    clearTimeout(second);
  };
}
