/**
 * A plain grpc-js backend of `ratings.Ratings` on 127.0.0.1:0 that answers
 * with its own name. Request metadata steers it:
 * - `x-fail-first: 1`: the first attempt of each request key fails with
 *   UNAVAILABLE, later attempts succeed (to prove retries);
 * - `x-fail: <grpc status code>`: every attempt fails with that code;
 * - `x-delay-ms: <n>`: answers after n ms.
 * `options.failWith` makes every call fail with that gRPC status, whatever
 * the metadata says (a broken backend). `Get` and `List` behave the same.
 *
 * Import `startRatingsBackend` in a test, or run `node server.ts --name v1`:
 * it prints `{"name":"v1","port":N}` once listening and stops on SIGTERM.
 *
 * With `xdsAddress` (`--xds-address 127.0.0.1:N`) it is grpc-js-xds's
 * `XdsServer` bound there with `XdsServerCredentials` over insecure ones: the
 * control plane of the process's bootstrap (`GRPC_XDS_BOOTSTRAP_CONFIG`)
 * decides its TLS and RBAC, and it listens only once its Listener arrived,
 * which is when the start resolves (the line is printed). grpc-js-xds keeps
 * one xDS client per process, so run it as a child process.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ratingsService } from './ratings-proto.ts';
import type { GetReply, GetRequest } from './ratings-proto.ts';

export interface RatingsBackend {
  readonly name: string;
  readonly port: number;
  /** Calls answered so far (successful or failed). */
  readonly calls: number;
  close(): Promise<void>;
}

export interface RatingsBackendOptions {
  /** Every call fails with this gRPC status code. */
  readonly failWith?: number;
  /** Serve as an xDS-enabled server (grpc-js-xds `XdsServer`) bound to this `ip:port`. */
  readonly xdsAddress?: string;
}

export async function startRatingsBackend(name: string, options: RatingsBackendOptions = {}): Promise<RatingsBackend> {
  let server = new grpc.Server();
  let credentials = grpc.ServerCredentials.createInsecure();
  if (options.xdsAddress !== undefined) {
    const xds = await import('@grpc/grpc-js-xds');
    // Its HTTP filters (router, RBAC) are registered here; RBAC needs GRPC_XDS_EXPERIMENTAL_RBAC=true.
    xds.register();
    // A replaced listener drains the connections of the old one for this long (default 10 minutes).
    server = new xds.XdsServer({ drainGraceTimeMs: 1000 });
    credentials = new xds.XdsServerCredentials(credentials);
  }
  const attempts = new Map<string, number>();
  let calls = 0;
  const handle = (call: grpc.ServerUnaryCall<GetRequest, GetReply>, callback: grpc.sendUnaryData<GetReply>): void => {
    calls += 1;
    const key = call.request.key;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const first = (k: string): string | undefined => {
      const v = call.metadata.get(k)[0];
      return v === undefined ? undefined : String(v);
    };
    const answer = (): void => {
      const fail = options.failWith ?? first('x-fail');
      if (fail !== undefined) {
        callback({ code: Number(fail), details: `${name} fails as asked` });
      } else if (first('x-fail-first') !== undefined && attempt === 1) {
        callback({ code: grpc.status.UNAVAILABLE, details: `${name} fails the first attempt of ${key}` });
      } else {
        callback(null, { backend: name, attempt });
      }
    };
    const delay = Number(first('x-delay-ms') ?? 0);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  };
  server.addService(ratingsService(), { Get: handle, List: handle });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.xdsAddress ?? '127.0.0.1:0', credentials, (err, p) => (err === null ? resolve(p) : reject(err)));
  });
  return {
    name,
    port,
    get calls() {
      return calls;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500).unref();
      }),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { name: { type: 'string' }, 'xds-address': { type: 'string' } } });
  const backend = await startRatingsBackend(values.name ?? 'backend', values['xds-address'] === undefined ? {} : { xdsAddress: values['xds-address'] });
  process.stdout.write(`${JSON.stringify({ name: backend.name, port: backend.port })}\n`);
  process.once('SIGTERM', () => void backend.close().then(() => process.exit(0)));
}
