import { status } from '@grpc/grpc-js';
import { CriError, type ErrorCode } from '../errors';

/**
 * The single place that knows gRPC status codes. A Record keyed by ErrorCode makes the compiler
 * reject a missing mapping when a code is added.
 */
const CODE_TO_STATUS: Record<ErrorCode, status> = {
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAVAILABLE: status.UNAVAILABLE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  INTERNAL: status.INTERNAL,
};

/** What a failed RPC sends: grpc-js only keeps an integer `code`, so build it explicitly. */
export interface GrpcStatus {
  code: status;
  details: string;
}

/** Maps a thrown value to a gRPC status; unexpected errors become UNKNOWN. */
export function toGrpcStatus(err: unknown, aborted: boolean): GrpcStatus {
  if (err instanceof CriError) return { code: CODE_TO_STATUS[err.code], details: err.message };
  if (aborted) return { code: status.CANCELLED, details: 'request cancelled by the client or its deadline passed' };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.UNKNOWN, details: message };
}

/** True for statuses that mean a bug or a system failure (logged at error level). */
export function isServerFault(code: status): boolean {
  return code === status.UNKNOWN || code === status.INTERNAL;
}
