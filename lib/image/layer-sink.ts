import type { Readable } from 'node:stream';
import type { OpContext } from '../context';
import type { LayerDecode, LayerFacts } from '../storage/layer-commit';

/**
 * Where pulled layers go. lib/image only downloads and verifies; unpacking into the layer store
 * (overlay directories, whiteouts) belongs to lib/storage, which implements this interface.
 */

/** One layer to unpack, identified by its storage layer ID (containers/image's rule, lib/storage layerIdOf). */
export interface ApplyLayerParams extends LayerFacts {
  /**
   * The uncompressed layer tar, which errors at EOF when its DiffID does not match; or, with
   * `decode`, the blob as downloaded (verified against its digest at EOF), whose chunks are the
   * sink's once emitted: nothing else reads them, the sink may move them to another thread.
   */
  tar: NodeJS.ReadableStream & Readable;
  /** Only for sinks that `decompress`: `tar` is the blob; the sink decompresses it and checks `diffId`. */
  decode?: LayerDecode;
  /**
   * Only for sinks with `concurrentApply`: set when the parent's apply is still running.
   * Settles when it is done, rejecting if the parent will not be there; the layer may be
   * unpacked meanwhile but must not become visible before this resolved.
   */
  parentApplied?: Promise<unknown>;
}

/** The layer store as the puller sees it. */
export interface LayerSink {
  /**
   * True when applyLayer may be called for a layer while its parent's apply runs (params carry
   * `parentApplied`): layers then download and unpack side by side and only commit bottom-up.
   * Otherwise each layer is applied only once its parent is present.
   */
  readonly concurrentApply?: boolean;
  /**
   * True when applyLayer takes the blob as downloaded (params carry `decode`) and decompresses
   * it and checks its DiffID itself, failing with FailedPreconditionError when it differs.
   */
  readonly decompresses?: boolean;
  /** True when the layer (and so its whole chain) is already unpacked. */
  hasLayer(layerId: string): Promise<boolean>;
  /**
   * Unpacks an uncompressed layer tar as the layer `layerId` on top of `parentLayerId`;
   * idempotent; rejects if the stream errors. Must read `tar` to its end and make the layer
   * visible only after the stream ended cleanly: the DiffID check happens at EOF.
   */
  applyLayer(params: ApplyLayerParams, ctx: OpContext): Promise<void>;
  /**
   * Deletes a layer no image uses any more; absent is fine; must refuse (reject) a layer other
   * layers sit on. Optional: without it, layers of removed images stay until storage GC.
   */
  removeLayer?(layerId: string): Promise<void>;
  /**
   * Makes the layers applied so far durable. Called once per pull that applied layers, before
   * the image record: a pull that returned survives a power cut, and the layers themselves skip
   * a sync each (a sync stalls every file the unpacks of other layers create meanwhile).
   */
  flush?(): Promise<void>;
  /** Disk use of all layers (ImageFsInfo). Optional. */
  usage?(): Promise<{ bytes: number; inodes: number }>;
}
