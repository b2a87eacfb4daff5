/**
 * The live data plane of one process: the current compiled config and the
 * state that survives config changes. Transports hold a reference to it and
 * read `compiled` per request; a config change swaps that one field.
 */
import type { MeshModel } from '../model/types.ts';
import type { EndpointFeedback } from '../cluster/types.ts';
import type http from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import { InboundGate, inboundGateKey, type GrpcAdmission, type GrpcInboundRequest, type InboundCounts } from './inbound-gate.ts';
import { NOTHING_TO_RELEASE, type InboundTracer } from '../transports/node-http/server-hook.ts';
import { CompiledMesh, createCarriedState, type CarriedState, type MirrorSenderFactory } from './compiled-mesh.ts';
import { createEndpointFeedback } from '../cluster/feedback.ts';
import { DEFAULT_REPLAY_LIMIT } from './replayable-body.ts';
import type { GlobalLimiterFactory } from './cluster-policies.ts';
import type { EndpointState } from '../cluster/types.ts';
import type { MeshMetrics } from '../telemetry/metrics.ts';
import type { MeshTracing } from '../telemetry/tracing.ts';
import type { AccessLog } from '../telemetry/access-log.ts';
import type { LoadStore, LocalityLoad } from '../telemetry/load-stats.ts';
import type { PeerStats } from '../telemetry/istio-metrics.ts';
import { workloadOf } from '../telemetry/metrics.ts';
import type { PeerIdentity } from '../security/peer-verify.ts';
import { peerOf } from '../security/peer-store.ts';
import type { ServerSpan } from '../telemetry/tracing.ts';
import { logGrpcOutbound, logInbound, traceIdOf } from '../telemetry/request-log.ts';
import { EnmeshError, isEnmeshError } from '../errors.ts';
import type { GrpcInboundCall, GrpcOutboundCall } from '../telemetry/request-log.ts';

export interface RuntimeOptions {
  /** This process's own service name, when it has one (source of its calls). */
  readonly serviceName?: string;
  /** This process's zone, for locality-aware balancing. */
  readonly zone?: string;
  /** Largest request body remembered for replay on retry. */
  readonly replayLimit?: number;
  readonly random?: () => number;
  /** Builds shared (Redis) limiters for `rateLimit.scope: global`. */
  readonly globalLimiter?: GlobalLimiterFactory;
}

/** Counters for diagnostics and the admin API (metrics come from telemetry). */
export interface RuntimeStats {
  /** HTTP requests routed by the mesh. */
  requests: number;
  retries: number;
  /** gRPC calls seen by the gRPC hooks, as client and as server. */
  grpcClientCalls: number;
  grpcServerCalls: number;
}

export class MeshRuntime implements InboundCounts {
  compiled: CompiledMesh | undefined;
  readonly feedback: EndpointFeedback;
  readonly random: () => number;
  readonly replayLimit: number;
  readonly zone: string;
  readonly serviceName: string | undefined;
  readonly stats: RuntimeStats = { requests: 0, retries: 0, grpcClientCalls: 0, grpcServerCalls: 0 };
  readonly #carried: CarriedState = createCarriedState();
  /** Istio-standard request metrics (set by init when telemetry starts). */
  metrics: MeshMetrics | undefined;
  /** Tracing, when init() was asked for it. */
  tracing: MeshTracing | undefined;
  /** Per-locality load counters reported to the control plane (LRS); set in control-plane mode. */
  load: LoadStore | undefined;
  readonly #localityLoads = new WeakMap<EndpointState, Map<string, LocalityLoad>>();

  /** The load counters of an endpoint's locality in a cluster (cached per endpoint). */
  localityLoad(ep: EndpointState, cluster: string): LocalityLoad | undefined {
    const store = this.load;
    if (store === undefined) return undefined;
    let byCluster = this.#localityLoads.get(ep);
    if (byCluster === undefined) this.#localityLoads.set(ep, (byCluster = new Map()));
    let load = byCluster.get(cluster);
    if (load === undefined) byCluster.set(cluster, (load = store.locality(cluster, ep.endpoint.zone === '' ? {} : { zone: ep.endpoint.zone })));
    return load;
  }

  /** Access log, when init() was asked for one. */
  accessLog: AccessLog | undefined;
  /** Starts the server span of an inbound request, when tracing is on. */
  inboundTracer: InboundTracer | undefined;
  /** Stats of calls answered without an endpoint (no route, fault, rate limit...), per destination. */
  readonly #noEndpointStats = new Map<string, PeerStats>();
  /** Per endpoint state: its stats handle, and the server identity it was made for. */
  readonly #endpointStats = new WeakMap<EndpointState, { readonly principal: string | undefined; readonly stats: PeerStats }>();
  readonly #globalLimiter: GlobalLimiterFactory | undefined;

  constructor(options: RuntimeOptions = {}) {
    this.zone = options.zone ?? '';
    this.serviceName = options.serviceName;
    this.random = options.random ?? Math.random;
    this.replayLimit = options.replayLimit ?? DEFAULT_REPLAY_LIMIT;
    this.feedback = createEndpointFeedback();
    this.#globalLimiter = options.globalLimiter;
  }

  get model(): MeshModel | undefined {
    return this.compiled?.model;
  }

  /** Compiles and swaps in a new model. Compilation errors leave the previous config in force. */
  setModel(model: MeshModel): void {
    // Both halves are built before either is swapped in: a model one of them refuses changes nothing.
    const gate = this.#gateFor(model);
    let compiled: CompiledMesh;
    try {
      compiled = new CompiledMesh(model, this.#carried, this.zone, this.#globalLimiter, this.#mirrorSender);
    } catch (err) {
      if (gate !== this.#gate) gate?.close();
      throw err;
    }
    this.compiled = compiled;
    if (gate !== this.#gate) {
      this.#gate?.close();
      this.#gate = gate;
    }
  }

  #gate: InboundGate | undefined;

  /**
   * Where config problems found while applying a model are reported (the
   * mesh's `error` event); unset: a process warning.
   */
  reportProblem: ((err: Error) => void) | undefined;

  /**
   * Admission of an inbound request to this process's own service
   * (authentication, authorization, server-side rate limit, inbound faults,
   * adaptive concurrency): undefined = refused and answered.
   */
  admitInbound(req: http.IncomingMessage, res: http.ServerResponse): (() => void) | undefined | Promise<(() => void) | undefined> {
    const gate = this.#gate;
    return gate === undefined ? NOTHING_TO_RELEASE : gate.admit(req, res);
  }

  /**
   * The same admission for an inbound gRPC call to this process's own
   * service: undefined when there is nothing to check, else the refusal or
   * the function to call when the call ends (maybe as a promise).
   */
  admitGrpcInbound(call: GrpcInboundRequest): GrpcAdmission | Promise<GrpcAdmission> | undefined {
    return this.#gate?.admitGrpc(call);
  }

  /**
   * The inbound gate for `model`: the one in force when its settings did not
   * change (its live state kept: tokens, limits, a Redis connection), else a
   * new one, or undefined when the service has nothing to check. Swapping it
   * in, and closing the one it replaces, is the caller's.
   */
  #gateFor(model: MeshModel): InboundGate | undefined {
    const svc = this.serviceName === undefined ? undefined : model.services.get(this.serviceName);
    if (svc === undefined) return undefined;
    if (this.#gate !== undefined && this.#gate.key === inboundGateKey(svc, model)) return this.#gate;
    const next = new InboundGate(svc, model, this, this.#globalLimiter);
    if (!next.active) {
      next.close();
      return undefined;
    }
    // Said once per new set of policies, when they are compiled, so users see it at load time.
    for (const w of next.warnings) this.#reportProblem(new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${w} (the policy is in force)`));
    return next;
  }

  #reportProblem(err: Error): void {
    if (this.reportProblem !== undefined) this.reportProblem(err);
    else process.emitWarning(err.message, { code: isEnmeshError(err) ? err.code : 'ENMESH_WARNING' });
  }

  // ---- decisions, counted as enmesh_* metrics (rare events: labelled counters are fine here) ----
  countRetry(service: string, route: string): void {
    this.stats.retries++;
    this.metrics?.enmesh.retries.inc({ destination_service: service, route });
  }
  countBudgetExhausted(service: string, route: string): void {
    this.metrics?.enmesh.retryBudgetExhausted.inc({ destination_service: service, route });
  }
  countHedge(service: string, route: string): void {
    this.metrics?.enmesh.hedges.inc({ destination_service: service, route });
  }
  countRateLimited(service: string, scope: string): void {
    this.metrics?.enmesh.rateLimited.inc({ destination_service: service, scope });
  }
  countFault(service: string, route: string, kind: 'delay' | 'abort'): void {
    this.metrics?.enmesh.faultsInjected.inc({ destination_service: service, route, kind });
  }
  countAuthzDenial(service: string, policy: string, dryRun: boolean): void {
    this.metrics?.enmesh.authzDenials.inc({ destination_service: service, policy, dry_run: dryRun ? 'true' : 'false' });
  }
  countShed(service: string, dryRun: boolean): void {
    this.metrics?.enmesh.adaptiveShed.inc({ destination_service: service, dry_run: dryRun ? 'true' : 'false' });
  }

  /**
   * Breaker transitions and ejections happen inside the policies; once a
   * second their counts and current state are copied into the enmesh_*
   * metrics (cheaper than touching labelled metrics on the request path).
   */
  syncPolicyMetrics(): void {
    const enmesh = this.metrics?.enmesh;
    const compiled = this.compiled;
    if (enmesh === undefined || compiled === undefined) return;
    for (const [service, p] of compiled.allPolicies()) {
      const labels = { destination_service: service };
      const b = p.breaker;
      if (b !== undefined) {
        const c = b.counters;
        const add = (state: string, now: number, key: 'opened' | 'halfOpened' | 'closed'): void => {
          if (now > p.exported[key]) enmesh.breakerStateChanges.inc({ ...labels, state }, now - p.exported[key]);
          p.exported[key] = now;
        };
        add('open', c.opened, 'opened');
        add('half_open', c.halfOpened, 'halfOpened');
        add('closed', c.closed, 'closed');
        enmesh.breakersOpen.set(labels, b.state === 'open' ? 1 : 0);
      }
      const o = p.outlier;
      if (o !== undefined) {
        const c = o.counters;
        const total = c.ejectedConsecutive5xx + c.ejectedConsecutiveGateway + c.ejectedConsecutiveLocalOrigin + c.ejectedSuccessRate;
        if (total > p.exported.ejections) enmesh.ejections.inc(labels, total - p.exported.ejections);
        p.exported.ejections = total;
        enmesh.ejectedEndpoints.set(labels, o.ejectedCount);
      }
      const rl = p.limiter?.snapshot?.() as { counters?: { fallbacks?: number } } | undefined;
      const fallbacks = rl?.counters?.fallbacks;
      if (fallbacks !== undefined) {
        if (fallbacks > p.exported.fallbacks) enmesh.rateLimitFallbacks.inc(labels, fallbacks - p.exported.fallbacks);
        p.exported.fallbacks = fallbacks;
      }
    }
    // The server-side global limit of this process's own service (a new gate counts from zero).
    const gate = this.#gate;
    const fallbacks = gate?.rateLimitFallbacks;
    if (fallbacks !== undefined) {
      const exported = this.#gateExported === gate ? this.#gateFallbacks : 0;
      if (fallbacks > exported) enmesh.rateLimitFallbacks.inc({ destination_service: this.serviceName ?? '' }, fallbacks - exported);
      this.#gateExported = gate;
      this.#gateFallbacks = fallbacks;
    }
  }
  /** The gate whose Redis fallbacks were last exported, and how many. */
  #gateExported: InboundGate | undefined;
  #gateFallbacks = 0;

  /** The live state of every policy, for operators (open breakers, ejected endpoints, tokens...). */
  policyState(): Record<string, unknown> {
    const out: Record<string, unknown> = { services: this.compiled?.policyState() ?? {} };
    if (this.#gate !== undefined) out.inbound = this.#gate.snapshot();
    return out;
  }

  /** Records one finished outbound call in the request metrics. */
  recordOutbound(service: string, ep: EndpointState | undefined, status: number, durationMs: number, requestBytes: number, responseBytes: number, flags: string): void {
    const m = this.metrics;
    if (m === undefined) return;
    let stats: PeerStats | undefined;
    if (ep !== undefined) {
      // Endpoint states outlive config versions; their stats handle is found without building a key.
      // Over mTLS, destination_principal is the identity the server presented (a map lookup).
      const principal = this.outboundPrincipal?.(ep.authority);
      let hit = this.#endpointStats.get(ep);
      if (hit === undefined || hit.principal !== principal) {
        hit = { principal, stats: m.outboundToEndpoint(service, ep.endpoint, 'http', 'unknown', principal) };
        this.#endpointStats.set(ep, hit);
      }
      stats = hit.stats;
    } else {
      stats = this.#noEndpointStats.get(service);
      if (stats === undefined) this.#noEndpointStats.set(service, (stats = m.outbound({ service }, 'http')));
    }
    stats.record(status, durationMs, requestBytes, responseBytes, flags);
  }

  /**
   * Records one finished inbound request. `peer`: the caller's verified
   * identity; null for plaintext while mTLS is on; undefined when mTLS is
   * off (the caller is unknown).
   */
  recordInbound(status: number, durationMs: number, requestBytes: number, responseBytes: number, peer?: PeerIdentity | null, req?: http.IncomingMessage, flags = ''): void {
    this.#inboundPeerStats('http', peer)?.record(status, durationMs, requestBytes, responseBytes, flags);
    const log = this.accessLog;
    if (req !== undefined && log !== undefined && log.wants(status, flags)) {
      const h = req.headers;
      logInbound(log, {
        protocol: `HTTP/${req.httpVersion}`,
        method: req.method ?? 'GET',
        authority: h.host ?? '',
        path: req.url ?? '/',
        status,
        flags,
        durationMs,
        bytesReceived: requestBytes,
        bytesSent: responseBytes,
        traceId: this.#inboundSpans.get(req)?.spanContext.traceId ?? traceIdOf(h),
        requestId: h['x-request-id'],
        userAgent: h['user-agent'],
        peer: peer ?? undefined,
        remoteAddress: req.socket?.remoteAddress,
      });
    }
  }

  /**
   * Records one finished inbound gRPC call: Istio reports gRPC with
   * response_code 200 (the HTTP status of an answered call) and the gRPC
   * status in grpc_response_status.
   */
  recordGrpcInbound(call: GrpcInboundCall): void {
    this.#inboundPeerStats('grpc', call.peer)?.record(call.status, call.durationMs, call.requestBytes, call.responseBytes, call.flags, call.grpcStatus);
    const log = this.accessLog;
    if (log !== undefined && log.wants(call.status, call.flags, call.grpcStatus)) {
      logInbound(log, { ...call, protocol: 'HTTP/2', method: 'POST', bytesReceived: call.requestBytes, bytesSent: call.responseBytes, peer: call.peer ?? undefined });
    }
  }

  /** Records one finished outbound gRPC call to a mesh service (status 0: no answer, e.g. no connection). */
  recordGrpcOutbound(call: GrpcOutboundCall): void {
    const m = this.metrics;
    if (m !== undefined) {
      // Keyed by service, then by the principal the server presented ('' over plaintext).
      let byPrincipal = this.#grpcOutboundStats.get(call.service);
      if (byPrincipal === undefined) this.#grpcOutboundStats.set(call.service, (byPrincipal = new Map()));
      const principal = call.principal ?? '';
      let stats = byPrincipal.get(principal);
      if (stats === undefined) byPrincipal.set(principal, (stats = m.outbound(principal === '' ? { service: call.service } : { service: call.service, principal }, 'grpc')));
      stats.record(call.status, call.durationMs, call.requestBytes, call.responseBytes, '', call.grpcStatus);
    }
    const log = this.accessLog;
    if (log !== undefined && log.wants(call.status, '', call.grpcStatus)) logGrpcOutbound(log, call);
  }
  readonly #grpcOutboundStats = new Map<string, Map<string, PeerStats>>();

  /**
   * Starts the server span of an inbound HTTP request (with the caller's
   * verified identity), remembered for its access log line.
   */
  traceInbound(req: http.IncomingMessage, tracing: MeshTracing, service: string): ServerSpan {
    const peer = peerOf(req);
    const span = tracing.startServer(req.headers, {
      service,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      ...(req.socket?.remoteAddress !== undefined ? { peerAddress: req.socket.remoteAddress } : {}),
      ...(peer !== undefined ? { peerPrincipal: peer.spiffeId } : {}),
    });
    if (this.accessLog !== undefined) this.#inboundSpans.set(req, span);
    return span;
  }
  readonly #inboundSpans = new WeakMap<http.IncomingMessage, ServerSpan>();

  /**
   * Inbound stats per protocol and caller. `peer`: the caller's verified
   * identity; null for plaintext while mTLS is on; undefined when mTLS is off
   * (the caller is unknown).
   */
  #inboundPeerStats(protocol: 'http' | 'grpc', peer: PeerIdentity | null | undefined): PeerStats | undefined {
    const m = this.metrics;
    if (m === undefined) return undefined;
    // Without mTLS every plain HTTP request lands here: one field, no lookup.
    if (peer === undefined && protocol === 'http') return (this.#inboundHttpAnyone ??= m.inbound({}, 'http'));
    const byPeer = protocol === 'http' ? this.#inboundHttp : this.#inboundGrpc;
    // Per caller SPIFFE ID: a mesh has few services, and the metrics cap label sets anyway.
    const key = peer === undefined ? '' : peer === null ? '-' : peer.spiffeId;
    let stats = byPeer.get(key);
    if (stats === undefined) {
      if (peer === undefined) stats = m.inbound({}, protocol);
      else if (peer === null) stats = m.inbound({}, protocol, 'none');
      else stats = m.inbound(workloadOf(peer.service ?? 'unknown', {}, peer.spiffeId), protocol, 'mutual_tls');
      byPeer.set(key, stats);
    }
    return stats;
  }
  #inboundHttpAnyone: PeerStats | undefined;
  readonly #inboundHttp = new Map<string, PeerStats>();
  readonly #inboundGrpc = new Map<string, PeerStats>();

  /**
   * Mirrored copies go straight to an endpoint of the mirror target through
   * their own connection pool: fire and forget, the response drained unread.
   */
  readonly #mirrorSender: MirrorSenderFactory = (mesh, service, subset) => (req) => {
    const ep = mesh.balancer(service, subset)?.pick({});
    if (ep === undefined) return Promise.reject(new Error(`no endpoint to mirror to in ${service}`));
    // An mTLS endpoint gets its copy over mTLS too (strict servers refuse anything else).
    const dispatcher = this.mtlsDispatcher?.(ep.origin) ?? (this.#mirrorAgent ??= new Agent({ connections: 16 }));
    return dispatcher
      .request({ origin: ep.origin, path: req.path, method: req.method as Dispatcher.HttpMethod, headers: req.headers, body: req.body })
      .then((res) => res.body.dump());
  };
  #mirrorAgent: Agent | undefined;
  /** The mTLS dispatcher for an endpoint origin that must be dialled with mTLS (security/mesh-mtls.ts); undefined: plaintext. */
  mtlsDispatcher: ((origin: string) => Dispatcher | undefined) | undefined;
  /** The verified SPIFFE ID of the server at an endpoint `host:port` reached over mTLS (security/mesh-mtls.ts); undefined: plaintext. */
  outboundPrincipal: ((authority: string) => string | undefined) | undefined;

  /** Stops timers and connections of the policies (breakers, outlier detection, Redis limiters). */
  close(): void {
    for (const p of this.#carried.policies.values()) p.close();
    this.#carried.policies.clear();
    void this.#mirrorAgent?.close();
    this.#gate?.close();
    this.#gate = undefined;
  }
}
