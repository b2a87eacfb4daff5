/**
 * Access log lines the transports other than the outbound HTTP call write:
 * inbound requests (this process was called), HTTP and gRPC alike, with the
 * same fields as outbound lines seen from the server side plus the caller's
 * address and verified identity; and outbound gRPC calls. Built only after
 * `AccessLog.wants` said yes.
 */
import type { AccessLog } from './access-log.ts';
import type { MeshPropagator } from './propagation.ts';
import type { PeerIdentity } from '../security/peer-verify.ts';

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** What is known of an inbound request when it is done. */
export interface InboundRequest {
  readonly protocol: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly status: number;
  /** Envoy-style response flags (`DC`: the caller went away before the response was done). */
  readonly flags?: string;
  readonly grpcStatus?: number;
  readonly durationMs: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly traceId: string | undefined;
  readonly requestId: string | string[] | undefined;
  readonly userAgent: string | string[] | undefined;
  readonly peer: PeerIdentity | undefined;
  readonly remoteAddress: string | undefined;
}

/** An inbound gRPC call when it is done (metrics and log). */
export interface GrpcInboundCall {
  /** `/package.Service/Method` */
  readonly path: string;
  readonly authority: string;
  /** The HTTP status the caller got: 200, or 0 when the call ended before anything was sent. */
  readonly status: number;
  readonly grpcStatus: number;
  /** Response flags: a call the mesh refused (RL, FI, OM...), or DC when the caller cancelled. */
  readonly flags: string;
  readonly durationMs: number;
  /** Bytes of the request messages received (transports/grpc/message-sizes.ts). */
  readonly requestBytes: number;
  /** Bytes of the response messages sent. */
  readonly responseBytes: number;
  readonly traceId: string | undefined;
  readonly requestId: string | undefined;
  readonly userAgent: string | undefined;
  /** The caller's verified identity; null: plaintext while mTLS is on; undefined: mTLS off. */
  readonly peer: PeerIdentity | null | undefined;
  readonly remoteAddress: string | undefined;
}

/** An outbound gRPC call to a mesh service when it is done. */
export interface GrpcOutboundCall {
  readonly service: string;
  /** The channel target's `host[:port]`. */
  readonly authority: string;
  readonly cluster: string;
  readonly path: string;
  /** 200 when the server answered, 0 when not (no connection, deadline before any answer). */
  readonly status: number;
  readonly grpcStatus: number;
  readonly durationMs: number;
  /** Bytes of the request messages sent (transports/grpc/message-sizes.ts). */
  readonly requestBytes: number;
  /** Bytes of the response messages received. */
  readonly responseBytes: number;
  readonly traceId: string | undefined;
  /** The SPIFFE ID the server presented over mTLS (`destination_principal`), when the channel is secure. */
  readonly principal?: string | undefined;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

export function logInbound(log: AccessLog, r: InboundRequest): void {
  const requestId = first(r.requestId);
  const userAgent = first(r.userAgent);
  log.write({
    direction: 'inbound',
    startTime: Date.now() - r.durationMs,
    method: r.method,
    authority: r.authority,
    path: r.path,
    protocol: r.protocol,
    status: r.status,
    flags: r.flags ?? '',
    durationMs: r.durationMs,
    bytesReceived: r.bytesReceived,
    bytesSent: r.bytesSent,
    ...(r.grpcStatus !== undefined ? { grpcStatus: r.grpcStatus } : {}),
    ...(r.traceId !== undefined ? { traceId: r.traceId } : {}),
    ...(requestId !== undefined ? { requestId } : {}),
    ...(r.peer !== undefined ? { peerPrincipal: r.peer.spiffeId } : {}),
    ...(r.remoteAddress !== undefined ? { downstreamAddress: r.remoteAddress } : {}),
    ...(userAgent !== undefined ? { userAgent } : {}),
  });
}

/** Reads every format, whatever a process writes; loaded with the first access log (OpenTelemetry's parsers). */
let reader: MeshPropagator | undefined;

export async function loadTraceReader(): Promise<void> {
  reader ??= new (await import('./propagation.ts')).MeshPropagator();
}

/** The trace id a request carries (W3C or B3), when tracing is off or did not see it; needs loadTraceReader() first. */
export function traceIdOf(headers: Headers): string | undefined {
  if (reader === undefined) return undefined;
  if (headers.traceparent === undefined && headers.b3 === undefined && headers['x-b3-traceid'] === undefined) return undefined;
  return reader.readSpanContext(headers)?.traceId;
}

export function logGrpcOutbound(log: AccessLog, call: GrpcOutboundCall): void {
  log.write({
    direction: 'outbound',
    startTime: Date.now() - call.durationMs,
    method: 'POST',
    authority: call.authority,
    path: call.path,
    protocol: 'HTTP/2',
    status: call.status,
    flags: '',
    durationMs: call.durationMs,
    bytesReceived: call.responseBytes,
    bytesSent: call.requestBytes,
    upstreamCluster: call.cluster,
    grpcStatus: call.grpcStatus,
    ...(call.traceId !== undefined ? { traceId: call.traceId } : {}),
  });
}
