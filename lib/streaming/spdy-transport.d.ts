/**
 * Types for the parts of `spdy-transport` (no typings published) that crio-ts uses. The two
 * underscore members are internals that spdy-session.ts needs to talk to Kubernetes' Go SPDY
 * peers (moby/spdystream); see there for why.
 */
declare module 'spdy-transport' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  /** One SPDY stream: readable = what the peer sends, writable = what we send. */
  export interface SpdyStream extends Duplex {
    readonly id: number;
    /** Header names arrive lower-cased. */
    readonly headers: Record<string, string>;
    respond(status: number, headers: Record<string, string>, callback?: (err?: Error | null) => void): void;
    abort(callback?: () => void): void;
  }

  /** Options of a connection. */
  export interface ConnectionOptions {
    protocol: 'spdy' | 'http2';
    isServer: boolean;
    windowSize?: number;
    maxStreams?: number;
    autoSpdy31?: boolean;
  }

  /** What a client stream is opened with. */
  export interface RequestOptions {
    method: string;
    path: string;
    host?: string;
    headers: Record<string, string>;
  }

  /** spdy-transport's header-block parser (internal). */
  export interface SpdyParser {
    parseKVs(buffer: unknown, callback: (err: Error | null, headers: Record<string, string>) => void): void;
  }

  /** A SPDY session over one socket. */
  export interface Connection extends EventEmitter {
    start(version: number): void;
    request(uri: RequestOptions, callback: (err: Error | null, stream: SpdyStream) => void): SpdyStream;
    /** Sends GOAWAY; the socket closes once every stream is closed. */
    end(callback?: () => void): void;
    destroyStreams(err?: Error): void;
    /** Internal: what a SETTINGS frame with initial_window_size does. */
    _setDefaultWindow(settings: { initial_window_size?: number }): void;
    /** Internal state. */
    _spdyState: { parser: SpdyParser };
  }

  export const connection: { create(socket: Duplex, options: ConnectionOptions): Connection };
}
