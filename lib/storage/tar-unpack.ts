import { lstatSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidArgumentError } from '../errors';
import { nullLogger, type Logger } from '../log';
import { StreamFailure } from './chunk-source';
import { TarReader, type TarRecorder } from './tar-reader';
import { Unpacker, type UnpackResult } from './unpacker';

export type { UnpackResult } from './unpacker';

/**
 * Streams an OCI/Docker layer tar into a directory, converting AUFS whiteouts to overlay's
 * form as containers/storage does (`.wh.x` → char 0:0 `x`, `.wh..wh..opq` → opaque xattr).
 * The tar is parsed by TarReader (binary-safe PAX, sparse files) and applied by Unpacker
 * (synchronous file system calls in slices, so the daemon keeps answering RPCs meanwhile).
 */

/** Options for unpackLayer. */
export interface UnpackOptions {
  log?: Logger;
  /** Aborting stops the unpack; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Watches the archive's bytes (the tar-split recorder). */
  recorder?: TarRecorder;
}

/**
 * Unpacks `tar` into the existing directory `dir`. No entry lands outside `dir` and no symlink
 * from the archive is ever followed. The stream is read to its very end (its digest check runs
 * there). On failure the stream is destroyed and the partial content is left for the caller to
 * delete; an error the stream itself raised is rethrown as is.
 */
export async function unpackLayer(tar: Readable, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const { signal } = options;
  const root = path.resolve(dir);
  const reader = new TarReader(tar, { recorder: options.recorder });
  const onAbort = (): void => {
    tar.destroy(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason)));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    if (!lstatSync(root).isDirectory()) throw new InvalidArgumentError(`unpack target ${root} is not a directory`);
    const unpacker = new Unpacker(root, options.log ?? nullLogger(), signal);
    for (let e = await reader.next(); e; e = await reader.next()) await unpacker.entry(e, reader);
    await unpacker.finish();
    return unpacker.result();
  } catch (err) {
    await reader.close();
    if (signal?.aborted) throw signal.reason;
    // The stream's own error (a digest mismatch, a failed download) is the caller's to interpret.
    if (err instanceof StreamFailure) throw err.original;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

