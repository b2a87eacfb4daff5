/**
 * What the mesh records of gRPC calls, client and server side: the counters
 * of `mesh.stats()`, Istio metrics (request_protocol="grpc", response_code
 * 200 for an answered call as Istio reports gRPC, the status in
 * grpc_response_status, message bytes in istio_request_bytes /
 * istio_response_bytes), spans shaped like HTTP ones (a call span with one
 * attempt; a server span with the verified peer) and access log lines. The
 * recording itself is the runtime's, shared with HTTP.
 *
 * Client calls are recorded when they go to a mesh service: an `xds:///`
 * target, or a target whose host is a service of the config in force. Other
 * targets pass through unrecorded, as other HTTP origins do. The mesh's own
 * calls to its control plane (ADS, LRS) are never recorded.
 */
import type * as Grpc from '@grpc/grpc-js';
import type { MeshModel } from '../../model/types.ts';
import type { MeshRuntime } from '../../runtime/mesh-runtime.ts';
import type { HeaderRecord } from '../../runtime/headers.ts';
import type { PeerIdentity } from '../../security/peer-verify.ts';
import { TRACE_HEADERS } from '../../telemetry/trace-headers.ts';
import { clusterName } from '../../xds/resource-names.ts';
import { parseSpiffeId } from '../../security/spiffe-id.ts';
import type { GrpcAuthContext, GrpcCallObserver, GrpcServerObservation } from './hook.ts';

/** xDS, LRS and CSDS: the mesh's link to its control plane, not application traffic. */
const CONTROL_PLANE_METHODS = '/envoy.service.';
const NOTHING = (): void => {};
const UNOBSERVED: GrpcServerObservation = { end: NOTHING };

/** `host` and `host:port` of a channel target (`xds:///ratings:50051`, `dns:///h:p`, `h:p`), and whether it is an xDS one. */
function parseTarget(target: string): { host: string; authority: string; xds: boolean } {
  const xds = target.startsWith('xds:');
  const m = /^(?:[a-z][a-z0-9+.-]*:)?(?:\/\/[^/]*\/)?(.*)$/i.exec(/^(xds|dns|ipv4|ipv6|unix):/i.test(target) ? target : `dns:///${target}`);
  const authority = m?.[1] ?? target;
  const host = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.split(':', 1)[0]!;
  return { host, authority, xds };
}

/**
 * The SPIFFE ID a server presented over TLS (`destination_principal`): the
 * one `URI:spiffe://…` SAN of its certificate. grpc-js keeps one auth context
 * per connection, so the SAN text is read once per connection, not per call.
 */
const presented = new WeakMap<object, string | null>();
export function presentedPrincipal(ctx: GrpcAuthContext | null | undefined): string | undefined {
  if (ctx === null || ctx === undefined) return undefined;
  const cert = ctx.sslPeerCertificate;
  if (cert === undefined) return undefined;
  let principal = presented.get(ctx);
  if (principal === undefined) {
    const uris = (cert.subjectaltname ?? '').split(', ').filter((san) => san.startsWith('URI:'));
    principal = uris.length === 1 && parseSpiffeId(uris[0]!.slice(4)) !== undefined ? uris[0]!.slice(4) : null;
    presented.set(ctx, principal);
  }
  return principal ?? undefined;
}

interface Destination {
  readonly service: string;
  readonly authority: string;
  readonly cluster: string;
}

/**
 * The observer the grpc hook calls; `self` names this process's service in
 * server spans; `peerOf` gives a server call's verified caller (null:
 * plaintext while mTLS is on; undefined: mTLS off), as for HTTP.
 */
export function grpcTelemetry(runtime: MeshRuntime, self: string, peerOf: (call: object) => PeerIdentity | null | undefined = () => undefined): GrpcCallObserver {
  // Per channel target; rebuilt when the config changes (a host may become a mesh service).
  let destinations = new Map<string, Destination | null>();
  let forModel: MeshModel | undefined;
  const destinationOf = (target: string): Destination | null => {
    const model = runtime.model;
    if (model !== forModel) {
      forModel = model;
      destinations = new Map();
    }
    let d = destinations.get(target);
    if (d === undefined) {
      const t = parseTarget(target);
      const svc = model?.services.get(t.host);
      d = t.xds || svc !== undefined ? { service: t.host, authority: t.authority, cluster: clusterName(t.host, svc?.port ?? 0) } : null;
      destinations.set(target, d);
    }
    return d;
  };

  return {
    onClientCall(info) {
      const { method, target } = info;
      if (method.startsWith(CONTROL_PLANE_METHODS)) return NOTHING;
      runtime.stats.grpcClientCalls++;
      const dest = destinationOf(target);
      if (dest === null) return NOTHING;
      const started = performance.now();
      const tracing = runtime.tracing;
      const call = tracing === undefined ? undefined : (tracing.quietCall() ?? tracing.recordCall({ service: dest.service, method: 'POST', path: method, protocol: 'grpc' }));
      // gRPC picks the endpoint (and retries) inside the channel: one attempt span stands for the call on the wire.
      const attempt = call?.startAttempt({ attempt: 1, cluster: dest.cluster, endpoint: dest.authority });
      if (attempt !== undefined) {
        const headers: HeaderRecord = {};
        attempt.inject(headers);
        for (const name in headers) info.set(name, String(headers[name]));
      }
      return (code, responded, requestBytes, responseBytes, authContext) => {
        const status = responded ? 200 : 0;
        attempt?.end(status, '', undefined, code);
        call?.end(status, '', undefined, code);
        runtime.recordGrpcOutbound({
          service: dest.service,
          authority: dest.authority,
          cluster: dest.cluster,
          path: method,
          status,
          grpcStatus: code,
          durationMs: performance.now() - started,
          requestBytes,
          responseBytes,
          traceId: call?.spanContext.traceId,
          principal: presentedPrincipal(authContext),
        });
      };
    },

    onServerCall({ method, metadata, peer, call }) {
      if (method.startsWith(CONTROL_PLANE_METHODS)) return UNOBSERVED;
      runtime.stats.grpcServerCalls++;
      const started = performance.now();
      const identity = peerOf(call);
      const principal = identity?.spiffeId;
      const remoteAddress = addressOf(peer);
      const span = runtime.tracing?.startServer(traceHeaders(metadata), {
        service: self,
        method: 'POST',
        path: method,
        ...(remoteAddress !== undefined ? { peerAddress: remoteAddress } : {}),
        ...(principal !== undefined ? { peerPrincipal: principal } : {}),
      });
      return {
        ...(span !== undefined ? { run: <T>(fn: () => T): T => span.run(fn) } : {}),
        end(code, requestBytes, responseBytes, flags, httpStatus) {
          span?.end(httpStatus, flags, undefined, code);
          runtime.recordGrpcInbound({
            path: method,
            status: httpStatus,
            flags,
            authority: call.getHost(),
            grpcStatus: code,
            durationMs: performance.now() - started,
            requestBytes,
            responseBytes,
            traceId: span?.spanContext.traceId,
            requestId: single(metadata, 'x-request-id'),
            userAgent: single(metadata, 'user-agent'),
            peer: identity,
            remoteAddress,
          });
        },
      };
    },
  };
}

function single(metadata: Grpc.Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/** Only the trace headers, as the propagator reads them. */
function traceHeaders(metadata: Grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const v = single(metadata, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** `ipv4:127.0.0.1:5555`, `127.0.0.1:5555` or `[::1]:5555` → the address. */
function addressOf(peer: string): string | undefined {
  const p = peer.replace(/^ipv[46]:/, '');
  if (p.startsWith('[')) return p.slice(1, p.indexOf(']'));
  const colon = p.lastIndexOf(':');
  return colon > 0 ? p.slice(0, colon) : p === '' ? undefined : p;
}
