import { loadNativeAddon } from './native-addon';

/**
 * glibc's malloc_trim(0) (native/malloc-trim.c says why: 64 KiB read buffers leave the heap
 * fragmented, and glibc itself returns only its top): gives the free pages inside malloc's
 * arenas back to the kernel. One call walks the free lists of a heap of a few MiB in well under
 * a millisecond. lib/memory-upkeep.ts calls it every few seconds. Without the addon (not built)
 * nothing happens.
 */

interface NativeTrim {
  trim(): boolean;
}

let native: NativeTrim | undefined | null = null;

/** Trims now; false when the addon is missing or nothing was released. */
export function trimMalloc(): boolean {
  if (native === null) native = loadNativeAddon<NativeTrim>('malloc-trim');
  return native?.trim() ?? false;
}
