import { statusIsJson } from './protocols';

/**
 * What the error stream of an exec or attach session carries at the end, as the kubelet writes it
 * (remotecommand's v1WriteStatusFunc / v4WriteStatusFunc): v4+ a metav1.Status JSON that client-go
 * turns into an exit code, older protocols the failure message alone (nothing on success).
 */

/** How a session ended. */
export type SessionOutcome = { exitCode: number } | { error: string };

/** metav1.Status as the kubelet sends it. */
interface Status {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes: Array<{ reason?: string; message: string }> };
}

/** The metav1.Status for an outcome (NonZeroExitCode/ExitCode cause: client-go's exit-code contract). */
export function outcomeStatus(outcome: SessionOutcome): Status {
  if ('error' in outcome) {
    const message = `error executing command in container: ${outcome.error}`;
    return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', code: 500, details: { causes: [{ message }] } };
  }
  if (outcome.exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: exit status ${outcome.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
  };
}

/** The bytes to write on the error stream for a protocol; undefined = write nothing. */
export function encodeOutcome(protocol: string, outcome: SessionOutcome): Buffer | undefined {
  const status = outcomeStatus(outcome);
  if (statusIsJson(protocol)) return Buffer.from(JSON.stringify(status));
  return status.status === 'Success' ? undefined : Buffer.from(status.message ?? '');
}
