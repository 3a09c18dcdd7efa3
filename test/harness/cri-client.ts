import { credentials, Metadata, type ChannelOptions, type Client, type handleUnaryCall, type ServiceError } from '@grpc/grpc-js';
import * as api from '../../lib/cri/gen/api';

/**
 * Promise clients over the project's generated grpc-js clients, as tests and benches use them:
 * `await rt.runPodSandbox({ config: {...} })`. Requests are partial messages, completed with the
 * generated `fromPartial`, so tests only spell what they care about.
 */

// The generated server interfaces extend an index signature; drop it so key mapping works.
type KnownKeys<S> = keyof { [K in keyof S as string extends K ? never : K]: S[K] };
type UnaryKeys<S> = { [K in KnownKeys<S>]: S[K] extends handleUnaryCall<infer _Req, infer _Res> ? K : never }[KnownKeys<S>];
type ReqOf<M> = M extends handleUnaryCall<infer Req, infer _Res> ? Req : never;
type ResOf<M> = M extends handleUnaryCall<infer _Req, infer Res> ? Res : never;
type DeepPartial<T> = T extends bigint | string | number | boolean | Buffer ? T : T extends (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

type Promised<S> = {
  [K in UnaryKeys<S>]: (req?: DeepPartial<ReqOf<S[K]>>, timeoutMs?: number) => Promise<ResOf<S[K]>>;
};

export type RuntimeClient = Promised<api.RuntimeServiceServer>;
export type ImageClient = Promised<api.ImageServiceServer>;

interface MessageCodec {
  fromPartial(v: unknown): unknown;
}

interface MethodDef {
  path: string;
  responseStream: boolean;
}

type UnaryFn = (req: unknown, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: unknown) => void) => void;

function requestCodec(def: MethodDef): MessageCodec {
  const rpc = def.path.slice(def.path.lastIndexOf('/') + 1);
  const name = rpc === 'GetContainerEvents' ? 'GetEventsRequest' : `${rpc}Request`;
  const codec = (api as unknown as Record<string, MessageCodec | undefined>)[name];
  if (!codec) throw new Error(`no request type ${name}`);
  return codec;
}

function promisify<S>(client: Client, definition: Record<string, MethodDef>): Promised<S> {
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(definition)) {
    if (def.responseStream) continue;
    const codec = requestCodec(def);
    const fn = (client as unknown as Record<string, UnaryFn>)[key];
    if (!fn) continue;
    out[key] = (req: unknown = {}, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        fn.call(client, codec.fromPartial(req), new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) =>
          err ? reject(err) : resolve(res),
        );
      });
  }
  return out as Promised<S>;
}

/** Connected CRI clients for a daemon's socket. */
export interface CriClients {
  runtime: RuntimeClient;
  image: ImageClient;
  close(): void;
}

// Tests restart the daemon: reconnect within ~100 ms instead of after grpc-js's backoff of 1 s and more.
const CHANNEL_OPTIONS = { 'grpc.initial_reconnect_backoff_ms': 20, 'grpc.max_reconnect_backoff_ms': 100 };

/** Connects to a CRI socket path (`options`: more grpc-js channel options, e.g. `grpc.default_authority`). */
export function connectCri(socketPath: string, options?: ChannelOptions): CriClients {
  const rt = new api.RuntimeServiceClient(`unix://${socketPath}`, credentials.createInsecure(), { ...CHANNEL_OPTIONS, ...options });
  const im = new api.ImageServiceClient(`unix://${socketPath}`, credentials.createInsecure(), { ...CHANNEL_OPTIONS, ...options });
  return {
    runtime: promisify<api.RuntimeServiceServer>(rt, api.RuntimeServiceService),
    image: promisify<api.ImageServiceServer>(im, api.ImageServiceService),
    close: () => {
      rt.close();
      im.close();
    },
  };
}
