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
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Grpc from '@grpc/grpc-js';

/** What the mesh does per gRPC call; the observability layer adds to it. */
export interface GrpcCallObserver {
  /** A client call started (method is `/package.Service/Method`). Returns the function to call with its final status. */
  onClientCall(method: string): (code: number) => void;
  /** A server call started. Returns the function to call with its final status. */
  onServerCall(method: string): (code: number) => void;
}

export interface GrpcHook {
  uninstall(): void;
}

type GetInterceptingCall = (args: unknown, methodDefinition: { path: string }, options: Record<string, unknown>, channel: unknown) => unknown;
type GetServerInterceptingCall = (interceptors: unknown[], ...rest: unknown[]) => unknown;

interface GrpcInternals {
  readonly grpc: typeof Grpc;
  readonly client: { getInterceptingCall: GetInterceptingCall };
  readonly server: { getServerInterceptingCall: GetServerInterceptingCall };
}

/** The application's copy of grpc-js (resolved from the working directory), else ours; undefined if absent. */
function loadGrpc(): GrpcInternals | undefined {
  for (const base of [join(process.cwd(), 'index.js'), import.meta.url]) {
    try {
      const req = createRequire(base);
      const main = req.resolve('@grpc/grpc-js');
      const dir = main.slice(0, main.lastIndexOf('/'));
      return {
        grpc: req(main) as typeof Grpc,
        client: req(`${dir}/client-interceptors.js`) as GrpcInternals['client'],
        server: req(`${dir}/server-interceptors.js`) as GrpcInternals['server'],
      };
    } catch {
      // try the next location
    }
  }
  return undefined;
}

export function installGrpcHook(observer: GrpcCallObserver): GrpcHook | undefined {
  const internals = loadGrpc();
  if (internals === undefined) return undefined;
  const { grpc, client, server } = internals;
  const originalClient = client.getInterceptingCall;
  const originalServer = server.getServerInterceptingCall;

  const clientInterceptor: Grpc.Interceptor = (options, nextCall) => {
    const done = observer.onClientCall(options.method_definition.path);
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            done(status.code);
            nextStatus(status);
          },
        });
      },
    });
  };

  const serverInterceptor: Grpc.ServerInterceptor = (methodDescriptor, call) => {
    const done = observer.onServerCall(methodDescriptor.path);
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        done(status.code);
        next(status);
      },
    });
  };

  // Our interceptor is outermost: it sees the call as the application made it.
  const wrappedClient: GetInterceptingCall = (args, methodDefinition, options, channel) =>
    clientInterceptor({ ...options, method_definition: methodDefinition } as unknown as Grpc.InterceptorOptions, (opts) =>
      originalClient(args, methodDefinition, opts as unknown as Record<string, unknown>, channel) as Grpc.InterceptingCall,
    );
  const wrappedServer: GetServerInterceptingCall = (interceptors, ...rest) => originalServer([serverInterceptor, ...interceptors], ...rest);

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
