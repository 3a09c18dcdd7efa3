import { status } from '@grpc/grpc-js';
import { CriError, type ErrorCode } from '../errors';
import { truncateText } from '../quote';

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

/**
 * Longest status message sent. Values are quoted short where errors are made (lib/quote.ts);
 * this is the backstop for text nobody cut (a tool's output): the message travels in an HTTP/2
 * trailer, and grpc-js clients hang until their deadline on one of a megabyte.
 */
export const MAX_STATUS_MESSAGE_CHARS = 4096;

/** Maps a thrown value to a gRPC status; unexpected errors become UNKNOWN. */
export function toGrpcStatus(err: unknown, aborted: boolean): GrpcStatus {
  if (err instanceof CriError) return { code: CODE_TO_STATUS[err.code], details: truncateText(err.message, MAX_STATUS_MESSAGE_CHARS) };
  if (aborted) return { code: status.CANCELLED, details: 'request cancelled by the client or its deadline passed' };
  const message = err instanceof Error ? err.message : String(err);
  return { code: status.UNKNOWN, details: truncateText(message, MAX_STATUS_MESSAGE_CHARS) };
}

/** True for statuses that mean a bug or a system failure (logged at error level). */
export function isServerFault(code: status): boolean {
  return code === status.UNKNOWN || code === status.INTERNAL;
}
