/**
 * Hooks @grpc/grpc-js so that clients and servers, including those created
 * before init(), run an enmesh interceptor on every call. It wraps the two
 * functions grpc-js builds every call's interceptor chain with (client and
 * server side) on their module objects, which grpc-js calls through at call
 * time. Routing for `xds:///` targets is gRPC's own (grpc-js-xds, fed by the
 * control plane); these hooks are where per-call telemetry attaches.
 *
 * `install()`/`uninstall()` are symmetric and idempotent.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Grpc from '@grpc/grpc-js';
import { loadedGrpcEntry } from './load-watch.ts';
import { beforeSend, countClientMessages, countServerMessages, receivedBytes, sentBytes } from './message-sizes.ts';
import { RESPONSE_FLAGS_HEADER, ResponseFlags } from '../../policy/response-flags.ts';

/** A client call as it starts. */
export interface GrpcClientCallInfo {
  /** `/package.Service/Method` */
  readonly method: string;
  /** The channel's target as the application gave it (`xds:///ratings`, `dns:///host:port`, `host:port`). */
  readonly target: string;
  /** The application's metadata, read only: the application may send the same object on other calls. */
  readonly metadata: Grpc.Metadata;
  /** Sets a text entry (trace context) on this call's metadata only. */
  set(name: string, value: string): void;
}

/** A client call as it starts; the first entry set copies the application's metadata. */
class ClientCallStart implements GrpcClientCallInfo {
  readonly method: string;
  readonly target: string;
  readonly metadata: Grpc.Metadata;
  #outgoing: Grpc.Metadata | undefined = undefined;

  constructor(method: string, target: string, metadata: Grpc.Metadata) {
    this.method = method;
    this.target = target;
    this.metadata = metadata;
  }

  set(name: string, value: string): void {
    (this.#outgoing ??= this.metadata.clone()).set(name, value);
  }

  /** What the call sends: the application's metadata, or the copy entries were set on. */
  get outgoing(): Grpc.Metadata {
    return this.#outgoing ?? this.metadata;
  }
}

/** A server call once its request metadata arrived. */
export interface GrpcServerCallInfo {
  readonly method: string;
  readonly metadata: Grpc.Metadata;
  /** `host:port` of the caller. */
  readonly peer: string;
  readonly authContext: ReturnType<Grpc.ServerInterceptingCallInterface['getAuthContext']> | undefined;
  /** The call, as the mesh's peer store knows it (verified mTLS identities). */
  readonly call: Grpc.ServerInterceptingCallInterface;
}

/** What the observer keeps of a server call. */
export interface GrpcServerObservation {
  /** Runs the application's handler code for this call (trace context). */
  run?<T>(fn: () => T): T;
  /**
   * The call's final status, the bytes of the messages received and sent (message-sizes.ts), the
   * response flags of a call the mesh answered itself (its trailers carry them) or `DC`, and the
   * HTTP status the caller got: 200, or 0 when nothing at all was sent (the caller went away first).
   */
  end(code: number, requestBytes: number, responseBytes: number, flags: string, httpStatus: number): void;
}

/** What the mesh does per gRPC call: stats, metrics, spans, access log. */
export interface GrpcCallObserver {
  /**
   * A client call starts. Returns the function to call with its final status;
   * `responded`: the server answered (response headers or trailers came back);
   * the bytes of the messages sent and received (message-sizes.ts).
   */
  onClientCall(info: GrpcClientCallInfo): (code: number, responded: boolean, requestBytes: number, responseBytes: number, authContext: GrpcAuthContext | null | undefined) => void;
  /** A server call's metadata arrived. */
  onServerCall(info: GrpcServerCallInfo): GrpcServerObservation;
}

/** What a call knows of its connection's security (grpc-js keeps one per connection). */
export type GrpcAuthContext = ReturnType<Grpc.InterceptingCall['getAuthContext']>;

export interface GrpcHook {
  uninstall(): void;
}

type GetInterceptingCall = (args: unknown, methodDefinition: { path: string } & Parameters<typeof countClientMessages>[0], options: Record<string, unknown>, channel: unknown) => unknown;
type GetServerInterceptingCall = (interceptors: unknown[], ...rest: unknown[]) => unknown;

export interface GrpcInternals {
  readonly grpc: typeof Grpc;
  readonly client: { getInterceptingCall: GetInterceptingCall };
  readonly server: { getServerInterceptingCall: GetServerInterceptingCall };
  /** Where `new Client()` takes its channel class from (read at construction time). */
  readonly channel: { ChannelImplementation: new (target: string, credentials: Grpc.ChannelCredentials, options: Grpc.ChannelOptions) => Grpc.Channel };
  /** How the application's copy is required (for @grpc/grpc-js-xds beside it). */
  readonly require: NodeJS.Require;
}

/** The copy of grpc-js already loaded, else the application's (resolved from the working directory), else ours; undefined if absent. */
export function loadGrpc(): GrpcInternals | undefined {
  const loaded = loadedGrpcEntry();
  const candidates: [base: string, main: string | undefined][] = [
    ...(loaded !== undefined ? [[loaded, loaded] as [string, string]] : []),
    [join(process.cwd(), 'index.js'), undefined],
    [import.meta.url, undefined],
  ];
  for (const [base, known] of candidates) {
    try {
      const req = createRequire(base);
      const main = known ?? req.resolve('@grpc/grpc-js');
      const dir = main.slice(0, main.lastIndexOf('/'));
      return {
        grpc: req(main) as typeof Grpc,
        client: req(`${dir}/client-interceptors.js`) as GrpcInternals['client'],
        server: req(`${dir}/server-interceptors.js`) as GrpcInternals['server'],
        channel: req(`${dir}/channel.js`) as GrpcInternals['channel'],
        require: req,
      };
    } catch {
      // try the next location
    }
  }
  return undefined;
}

type CallDone = ReturnType<GrpcCallObserver['onClientCall']>;
/** What grpc-js's client drives a call through (its InterceptingCallInterface, not exported by name). */
type ClientCall = Pick<Grpc.InterceptingCall, 'cancelWithStatus' | 'getPeer' | 'start' | 'sendMessageWithContext' | 'sendMessage' | 'startRead' | 'halfClose' | 'getAuthContext'>;

/**
 * A client call as grpc-js's client drives it, observed: it passes every
 * operation to the call underneath and is itself the listener that call
 * reports to. grpc-js's own interceptor machinery (an InterceptingCall with
 * its requester, bound listeners and pending-message bookkeeping) would cost
 * several objects and closures per call for the same observation.
 */
class ObservedClientCall implements ClientCall {
  readonly #inner: ClientCall;
  readonly #observer: GrpcCallObserver;
  readonly #method: string;
  readonly #target: string;
  #listener: Partial<Grpc.InterceptingListener> | undefined = undefined;
  #done: CallDone | undefined = undefined;
  #responded = false;
  #sent = 0;
  #received = 0;

  constructor(inner: ClientCall, observer: GrpcCallObserver, method: string, target: string) {
    this.#inner = inner;
    this.#observer = observer;
    this.#method = method;
    this.#target = target;
  }

  start(metadata: Grpc.Metadata, listener?: Partial<Grpc.InterceptingListener>): void {
    this.#listener = listener;
    const info = new ClientCallStart(this.#method, this.#target, metadata);
    this.#done = this.#observer.onClientCall(info);
    this.#inner.start(info.outgoing, this);
  }

  onReceiveMetadata(metadata: Grpc.Metadata): void {
    this.#responded = true;
    this.#listener?.onReceiveMetadata?.(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.#received += receivedBytes(message);
    this.#listener?.onReceiveMessage?.(message);
  }

  onReceiveStatus(status: Grpc.StatusObject): void {
    // A trailers-only answer carries the server's content-type; a locally made status has none.
    const done = this.#done;
    if (done !== undefined) done(status.code, this.#responded || status.metadata?.get('content-type').length > 0, this.#sent, this.#received, this.#authContext());
    this.#listener?.onReceiveStatus?.(status);
  }

  sendMessageWithContext(context: Parameters<ClientCall['sendMessageWithContext']>[0], message: unknown): void {
    beforeSend();
    this.#inner.sendMessageWithContext(context, message);
    this.#sent += sentBytes();
  }

  sendMessage(message: unknown): void {
    beforeSend();
    this.#inner.sendMessage(message);
    this.#sent += sentBytes();
  }

  cancelWithStatus(status: Grpc.status, details: string): void {
    this.#inner.cancelWithStatus(status, details);
  }

  getPeer(): string {
    return this.#inner.getPeer();
  }

  startRead(): void {
    this.#inner.startRead();
  }

  halfClose(): void {
    this.#inner.halfClose();
  }

  getAuthContext(): ReturnType<ClientCall['getAuthContext']> {
    return this.#inner.getAuthContext();
  }

  /** The connection's security as the call ends (the server's certificate over TLS), or undefined. */
  #authContext(): GrpcAuthContext | null | undefined {
    try {
      return this.#inner.getAuthContext();
    } catch {
      return undefined; // a grpc-js without auth contexts
    }
  }
}

/** What the status of a server call is read from: its HTTP/2 stream. */
type SentStatusSource = Partial<Pick<ServerHttp2Stream, 'sentHeaders' | 'sentTrailers'>>;

/** The gRPC status sent on a server stream (in its trailers, or trailers-only headers), else -1. */
function sentStatus(stream: SentStatusSource | undefined): number {
  const sent = stream?.sentTrailers ?? stream?.sentHeaders;
  const v = sent?.['grpc-status'];
  const code = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isInteger(code) && code >= 0 ? code : -1;
}

export function installGrpcHook(observer: GrpcCallObserver): GrpcHook | undefined {
  const internals = loadGrpc();
  if (internals === undefined) return undefined;
  const { grpc, client, server } = internals;
  const originalClient = client.getInterceptingCall;
  const originalServer = server.getServerInterceptingCall;

  /** `stream`: the call's HTTP/2 stream, where the status grpc-js sent by itself can be read. */
  const observeServerCall = (methodDescriptor: Grpc.ServerMethodDefinition<unknown, unknown>, call: Grpc.ServerInterceptingCallInterface, stream: SentStatusSource | undefined): Grpc.ServerInterceptingCall => {
    let seen: GrpcServerObservation | undefined;
    let ended = false;
    let received = 0;
    let sent = 0;
    const end = (code: number, flags: string, httpStatus = 200): void => {
      if (ended) return;
      ended = true;
      seen?.end(code, received, sent, flags, httpStatus);
    };
    const inCall = <T>(fn: () => T): T => (seen?.run === undefined ? fn() : seen.run(fn));
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMd) {
            seen = observer.onServerCall({ method: methodDescriptor.path, metadata, peer: call.getPeer(), authContext: call.getAuthContext?.(), call });
            inCall(() => nextMd(metadata));
          },
          onReceiveMessage(message, nextMsg) {
            received += receivedBytes(message);
            inCall(() => nextMsg(message));
          },
          onReceiveHalfClose(nextHalfClose) {
            inCall(() => nextHalfClose());
          },
          // grpc-js tells the next listener itself. It ends some calls itself, past the interceptors
          // (its deadline timer, a request message over the size limit or undecodable), and then
          // cancels them: what it sent is the call's status; nothing sent means the caller went away.
          onCancel() {
            const code = sentStatus(stream);
            if (code >= 0) end(code, '');
            else end(grpc.status.CANCELLED, ResponseFlags.DOWNSTREAM_CANCEL, stream?.sentHeaders === undefined ? 0 : 200);
          },
        });
      },
      sendMessage(message, next) {
        beforeSend();
        next(message);
        sent += sentBytes();
      },
      sendStatus(status, next) {
        // Only a failed call can be one the mesh refused (inbound-security.ts puts its flags in the trailers).
        const flags = status.code === 0 ? undefined : status.metadata?.get(RESPONSE_FLAGS_HEADER)[0];
        end(status.code, typeof flags === 'string' ? flags : '');
        next(status);
      },
    });
  };

  // Outermost: the mesh sees the call as the application made it, through one delegating object per call.
  const wrappedClient: GetInterceptingCall = (args, methodDefinition, options, channel) => {
    countClientMessages(methodDefinition);
    const inner = originalClient(args, methodDefinition, options, channel) as ClientCall;
    return new ObservedClientCall(inner, observer, methodDefinition.path, (channel as { getTarget?(): string } | undefined)?.getTarget?.() ?? '');
  };
  // rest: stream, headers, callEventTracker, handler (one per method), options.
  const wrappedServer: GetServerInterceptingCall = (interceptors, ...rest) => {
    countServerMessages(rest[3] as Parameters<typeof countServerMessages>[0]);
    const stream = rest[0] as SentStatusSource | undefined;
    const observe: Grpc.ServerInterceptor = (methodDescriptor, call) => observeServerCall(methodDescriptor, call, stream);
    return originalServer([observe, ...interceptors], ...rest);
  };

  client.getInterceptingCall = wrappedClient;
  server.getServerInterceptingCall = wrappedServer;
  let installed = true;
  return {
    uninstall() {
      if (!installed) return;
      installed = false;
      if (client.getInterceptingCall === wrappedClient) client.getInterceptingCall = originalClient;
      if (server.getServerInterceptingCall === wrappedServer) server.getServerInterceptingCall = originalServer;
    },
  };
}
