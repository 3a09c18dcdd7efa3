import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  Server,
  ServerCredentials,
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  ImageServiceService,
  RuntimeServiceService,
  type ImageServiceServer,
  type RuntimeServiceServer,
} from '../cri/gen/api';
import { errnoCode } from '../errors';
import type { Logger } from '../log';
import { NO_METRICS, type MetricsRecorder } from '../metrics/recorder';
import { routeConnection } from './connection-sniff';
import { withAuthorityFix } from './grpc-uds-authority';
import { serverStream, type StreamHandler } from './server-stream';
import { unary, type UnaryHandler, type UnaryOptions } from './unary';

// The generated server interfaces extend an index signature; drop it so key mapping works.
type KnownKeys<S> = keyof { [K in keyof S as string extends K ? never : K]: S[K] };
type UnaryKeys<S> = { [K in KnownKeys<S>]: S[K] extends handleUnaryCall<infer _Req, infer _Res> ? K : never }[KnownKeys<S>];
type StreamKeys<S> = { [K in KnownKeys<S>]: S[K] extends handleServerStreamingCall<infer _Req, infer _Res> ? K : never }[KnownKeys<S>];
type HandlerFor<M> = M extends handleUnaryCall<infer Req, infer Res> ? UnaryHandler<Req, Res> : never;
type StreamHandlerFor<M> = M extends handleServerStreamingCall<infer Req, infer Res> ? StreamHandler<Req, Res> : never;
type Handlers<S> = { [K in UnaryKeys<S>]?: HandlerFor<S[K]> } & { [K in StreamKeys<S>]?: StreamHandlerFor<S[K]> };

/** The RPCs crio-ts implements (unary and server-streaming), keyed by ts-proto's method names. */
export type RuntimeHandlers = Handlers<RuntimeServiceServer>;
/** The ImageService RPCs crio-ts implements. */
export type ImageHandlers = Handlers<ImageServiceServer>;

type AnyHandler = UnaryHandler<never, unknown> | StreamHandler<never, unknown>;

/** Per-RPC logging options (e.g. no request dump for PullImage: it carries credentials). */
export type RpcOptions = Record<string, UnaryOptions>;

interface MethodDefinition {
  path: string;
  responseStream: boolean;
}

function rpcName(def: MethodDefinition): string {
  return def.path.slice(def.path.lastIndexOf('/') + 1);
}

function unimplementedMessage(name: string): string {
  return `${name} is not implemented by crio-ts`;
}

/** Builds a full service implementation (unary and server-streaming); every method not in `handlers` answers UNIMPLEMENTED naming the RPC. */
function buildService(
  definition: Record<string, MethodDefinition>,
  handlers: Record<string, AnyHandler | undefined>,
  log: Logger,
  options: RpcOptions,
  metrics: MetricsRecorder,
): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [key, def] of Object.entries(definition)) {
    const name = rpcName(def);
    const handler = handlers[key];
    if (def.responseStream && handler) {
      impl[key] = serverStream(name, log, handler as StreamHandler<unknown, unknown>, metrics);
    } else if (def.responseStream) {
      impl[key] = (call: ServerWritableStream<unknown, unknown>) => {
        metrics.operation(name, 0, true);
        call.emit('error', { code: status.UNIMPLEMENTED, details: unimplementedMessage(name) });
      };
    } else if (handler) {
      impl[key] = unary(name, log, handler as UnaryHandler<unknown, unknown>, options[name], metrics);
    } else {
      impl[key] = (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        metrics.operation(name, 0, true);
        callback({ code: status.UNIMPLEMENTED, details: unimplementedMessage(name) }, null);
      };
    }
  }
  return impl;
}

export interface CriServerOptions {
  /** Socket path (without unix://). */
  socketPath: string;
  runtime: RuntimeHandlers;
  image: ImageHandlers;
  rpcOptions?: RpcOptions;
  /** RuntimeService methods whose responses are encoded by custom code. */
  responseSerializers?: ResponseSerializers;
  maxSendBytes: number;
  maxRecvBytes: number;
  log: Logger;
  /** Serves connections that speak HTTP/1.1 instead of gRPC (CRI-O's inspect API on the same socket). */
  http1?: (socket: net.Socket) => void;
  /** Where each call is counted (operations_total and friends); default: nowhere. */
  metrics?: MetricsRecorder;
}

/** Custom response encoders by ts-proto method key (e.g. ListContainers' cached encoding). */
export type ResponseSerializers = Record<string, (value: never) => Buffer>;

/** A copy of a service definition with some response serializers replaced. */
function withSerializers(definition: ServiceDefinition, overrides: ResponseSerializers | undefined): ServiceDefinition {
  if (!overrides) return definition;
  return Object.fromEntries(
    Object.entries(definition).map(([key, def]) => {
      const serialize = overrides[key];
      return [key, serialize ? { ...def, responseSerialize: (value: unknown) => serialize(value as never) } : def];
    }),
  );
}

/** A running CRI gRPC server on a unix socket. */
export interface CriServer {
  close(): Promise<void>;
}

/** Serves RuntimeService and ImageService on the unix socket (mode 0600, parent dir created). */
export async function startCriServer(options: CriServerOptions): Promise<CriServer> {
  const server = new Server({
    'grpc.max_send_message_length': options.maxSendBytes,
    'grpc.max_receive_message_length': options.maxRecvBytes,
  });
  const rpcOptions = options.rpcOptions ?? {};
  server.addService(
    withSerializers(RuntimeServiceService, options.responseSerializers),
    buildService(RuntimeServiceService, options.runtime as Record<string, AnyHandler>, options.log, rpcOptions, options.metrics ?? NO_METRICS),
  );
  server.addService(
    ImageServiceService,
    buildService(ImageServiceService, options.image as Record<string, AnyHandler>, options.log, rpcOptions, options.metrics ?? NO_METRICS),
  );
  await fs.mkdir(path.dirname(options.socketPath), { recursive: true, mode: 0o755 });
  try {
    // A socket file left by a crashed daemon would make bind fail with EADDRINUSE.
    await fs.unlink(options.socketPath);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  // Our own listener hands connections to grpc-js, so old gRPC-Go clients' socket-path
  // :authority can be fixed up on the way in (see grpc-uds-authority.ts).
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const toGrpc = (socket: net.Socket): void => injector.injectConnection(withAuthorityFix(socket));
  const http1 = options.http1;
  // With an HTTP/1.1 handler the first bytes pick the server (connection-sniff.ts).
  const listener = net.createServer(http1 ? (socket) => routeConnection(socket, { http2: toGrpc, http1 }) : toGrpc);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    // Created 0600 from the start: no window in which another user could connect.
    const oldMask = process.umask(0o177);
    listener.listen(options.socketPath, () => {
      process.umask(oldMask);
      listener.off('error', reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        listener.close();
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
