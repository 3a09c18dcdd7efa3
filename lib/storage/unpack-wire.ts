import {
  AlreadyExistsError,
  CriError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
  errnoCode,
  type ErrorCode,
} from '../errors';
import type { TreeInventory } from './disk-usage';
import type { DetectedCompression } from './decompress';
import type { TarSplitResult } from './tar-split';
import type { UnpackResult } from './unpacker';

/**
 * The messages between the daemon and a layer-unpack worker (unpack-worker.ts), and how typed
 * errors cross the thread boundary (structured clone keeps only an Error's message and name).
 */

/** Daemon → worker. */
export type ToWorker =
  | { type: 'start'; diffDir: string; decode?: WorkerDecode }
  /** Tar bytes (or blob bytes, with `decode`), in stream order. */
  | { type: 'chunk'; data: Uint8Array }
  /** The tar stream ended cleanly (its digest checks passed). */
  | { type: 'end' }
  /** The tar stream failed or the pull was cancelled: stop, leave the partial tree to the caller. */
  | { type: 'abort' };

/**
 * A layer handed over as the blob it was downloaded as, as c/storage's ApplyDiff takes it: the
 * store decompresses it and checks the DiffID itself, on the unpack worker beside the tar work,
 * so the daemon's thread only moves bytes.
 */
export interface LayerDecode {
  /** What the blob's magic bytes said it is (decompress.ts detectCompression). */
  compression: DetectedCompression;
  /** Names the blob in errors ("layer 2 (sha256:…) of docker.io/library/busybox:latest"). */
  what: string;
}

/** A blob to decompress and check against `diffId` before its tar is unpacked. */
export interface WorkerDecode extends LayerDecode {
  diffId: string;
}

/** What a finished unpack reports. */
export interface WorkerResult {
  unpack: UnpackResult;
  split: TarSplitResult;
  inventory: TreeInventory;
}

/** Worker → daemon. */
export type FromWorker =
  /** `bytes` of chunks have been taken by the unpacker: room for more. */
  | { type: 'ack'; bytes: number }
  | { type: 'log'; level: 'error' | 'warn' | 'info' | 'debug'; message: string; fields?: Record<string, unknown> }
  | { type: 'done'; result: WorkerResult }
  | { type: 'failed'; error: WireError };

/** An error as it crosses threads. */
export interface WireError {
  message: string;
  /** The CriError code, when it was one. */
  code?: ErrorCode;
  /** The errno code of a system error (ENOSPC, ...). */
  errno?: string;
  stack?: string;
}

/** Flattens an error for postMessage. */
export function toWire(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  return { message: e.message, ...(err instanceof CriError ? { code: err.code } : {}), ...(errnoCode(err) ? { errno: errnoCode(err) } : {}), stack: e.stack };
}

const BY_CODE: Record<ErrorCode, new (message: string) => CriError> = {
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  INVALID_ARGUMENT: InvalidArgumentError,
  FAILED_PRECONDITION: FailedPreconditionError,
  UNAVAILABLE: UnavailableError,
  UNIMPLEMENTED: UnimplementedError,
  DEADLINE_EXCEEDED: DeadlineExceededError,
  RESOURCE_EXHAUSTED: ResourceExhaustedError,
  INTERNAL: InternalError,
};

/** Rebuilds the typed error a worker raised (an untyped one becomes InternalError). */
export function fromWire(w: WireError): Error {
  const Ctor = w.code ? BY_CODE[w.code] : InternalError;
  const err = new Ctor(w.message);
  if (w.stack) err.stack = `${err.name}: ${w.message}\n    (in the layer unpack worker)\n${w.stack.split('\n').slice(1).join('\n')}`;
  return err;
}
