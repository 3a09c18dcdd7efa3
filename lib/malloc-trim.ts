import path from 'node:path';

/**
 * Gives glibc's free heap pages back to the kernel every so often (native/malloc-trim.c says
 * why: 64 KiB read buffers leave the heap fragmented, and glibc itself returns only its top).
 * One malloc_trim walks the free lists of a heap of a few MiB in well under a millisecond; once
 * every TRIM_INTERVAL_MS costs nothing measurable and keeps a polled, pulling daemon's RSS near
 * its idle figure. Without the addon (not built) nothing happens.
 */

/** How often the heap is trimmed. */
export const TRIM_INTERVAL_MS = 10_000;

interface NativeTrim {
  trim(): boolean;
}

function loadNative(): NativeTrim | undefined {
  try {
    // build/native/malloc-trim.node, next to build/lib (tsc output) and build/cmd (the bundle).
    return require(path.join(__dirname, '..', 'native', 'malloc-trim.node')) as NativeTrim;
  } catch {
    return undefined;
  }
}

/** Trims now; false when the addon is missing or nothing was released. */
export function trimMalloc(): boolean {
  return loadNative()?.trim() ?? false;
}

/** Starts the periodic trim (the timer does not keep the process alive); returns its stop function. */
export function startMallocTrim(intervalMs = TRIM_INTERVAL_MS): () => void {
  const native = loadNative();
  if (!native) return () => undefined;
  const timer = setInterval(() => native.trim(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
