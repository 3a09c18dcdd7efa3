/**
 * The closed set of failure classes crio-ts code may throw. Each maps to exactly one gRPC
 * status at the server boundary (lib/server/status.ts) and nowhere else, so domain modules
 * stay free of gRPC. Add context the way Go's `%w` does: `new NotFoundError(msg, { cause })`.
 */

/** Stable error codes; names follow gRPC's so the mapping is obvious. */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'DEADLINE_EXCEEDED'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL';

/** Base class: every error crio-ts raises on purpose carries a code. */
export abstract class CriError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A pod, container, image or file that the request names does not exist. */
export class NotFoundError extends CriError {
  readonly code = 'NOT_FOUND';
}

/** A name or ID the request wants is already taken. */
export class AlreadyExistsError extends CriError {
  readonly code = 'ALREADY_EXISTS';
}

/** The request itself is malformed (bad reference, missing field, bad value). */
export class InvalidArgumentError extends CriError {
  readonly code = 'INVALID_ARGUMENT';
}

/** The request is well-formed but the object is in the wrong state for it. */
export class FailedPreconditionError extends CriError {
  readonly code = 'FAILED_PRECONDITION';
}

/** A dependency (registry, binary, CNI plugin) cannot be reached or run right now. */
export class UnavailableError extends CriError {
  readonly code = 'UNAVAILABLE';
}

/** The RPC or option is not implemented by crio-ts. */
export class UnimplementedError extends CriError {
  readonly code = 'UNIMPLEMENTED';
}

/** An operation ran past its deadline. */
export class DeadlineExceededError extends CriError {
  readonly code = 'DEADLINE_EXCEEDED';
}

/** A size or count limit was hit (manifest too large, output cap). */
export class ResourceExhaustedError extends CriError {
  readonly code = 'RESOURCE_EXHAUSTED';
}

/** An invariant broke or a system call failed in a way the caller cannot fix. */
export class InternalError extends CriError {
  readonly code = 'INTERNAL';
}

/** Narrow an unknown thrown value to an Error without losing non-Error throws. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The errno code of a Node system error (`ENOENT`, ...), if it has one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
