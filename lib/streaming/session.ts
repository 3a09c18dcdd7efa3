import type { Readable, Writable } from 'node:stream';
import type { TerminalSize } from '../oci/conmon-attach';
import type { SessionOutcome } from './status';

/**
 * One connected exec/attach client, whatever the wire protocol: the streams it asked for and a way
 * to end the session with a status.
 */

/** What the exec/attach request asked for (from the cached CRI request). */
export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The client's streams of a remotecommand session. */
export interface ClientStreams {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: AsyncIterable<TerminalSize>;
  /** Aborted when the client disconnects. */
  signal: AbortSignal;
  /** Ends the output streams, writes the outcome on the error stream and closes the connection. */
  finish(outcome: SessionOutcome): void;
}
