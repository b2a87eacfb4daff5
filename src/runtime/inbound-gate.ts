/**
 * Inbound admission for this process's own service, before the application
 * sees a request or a gRPC call, in this order: the request path normalised
 * (HTTP: what is checked is what the application receives), JWT
 * authentication and authorization policies (401/403), the server-side rate
 * limit (`rateLimit.side: server`, 429 RL with Retry-After), inbound fault
 * injection (abort FI / delay DI), and adaptive concurrency (503 OM when the
 * process is overloaded). A rate-limited request takes no fault slot, and an
 * injected delay is not latency the adaptive limit reacts to. Refused
 * requests never count against the limits that come after the refusal.
 * State survives reloads while the settings do not change.
 *
 * gRPC calls take the same checks on their method path and metadata; the
 * refusals are gRPC statuses (see {@link admitGrpc}).
 */
import type http from 'node:http';
import type { MeshModel, ServiceModel } from '../model/types.ts';
import { compileAuthorization } from '../security/authz.ts';
import { authenticatorsByTarget, type JwtAuthenticator } from '../security/jwt.ts';
import { checkAccess, checkInbound, sendRefusal, type InboundGuardOptions, type InboundVerdict } from '../security/inbound-guard.ts';
import { peerOf } from '../security/peer-store.ts';
import type { PeerIdentity } from '../security/peer-verify.ts';
import { AdaptiveConcurrencyLimiter } from '../resilience/adaptive-concurrency.ts';
import { FAULT_ABORT, FAULT_DELAY, FAULT_NONE, FaultInjector } from '../resilience/fault.ts';
import { LocalRateLimiter } from '../resilience/rate-limiter.ts';
import { retryAfterSeconds, type RateLimitRequest } from '../resilience/rate-limit-descriptors.ts';
import { RESPONSE_FLAGS_HEADER, ResponseFlags } from '../policy/response-flags.ts';
import { NOTHING_TO_RELEASE } from '../transports/node-http/server-hook.ts';
import type { GlobalLimiterFactory, RateLimitCheck } from './cluster-policies.ts';

/** A request the gate let through: call it when the response is done. */
export type InboundRelease = () => void;

/** An inbound gRPC call as the checks see it. */
export interface GrpcInboundRequest {
  /** `/package.Service/Method` */
  readonly method: string;
  /** The request metadata (lower-case keys; binary `-bin` entries left out). */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The verified mTLS caller; undefined for plaintext. */
  readonly peer: PeerIdentity | undefined;
  /** True once the caller cancelled the call (checked after an asynchronous step). */
  readonly cancelled?: () => boolean;
}

/** gRPC status codes of refused calls (grpc/status.h). */
export const GRPC_CANCELLED = 1;
export const GRPC_UNKNOWN = 2;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;
export const GRPC_UNAUTHENTICATED = 16;

/** Why a gRPC call was refused: the status to answer with. */
export interface GrpcRefusal {
  readonly code: number;
  readonly details: string;
  /** Response flags (RL, FI, DI, OM), sent in the trailers as `x-enmesh-response-flags`. */
  readonly flags?: string;
  /** When to try again (a rate limit): gRPC's `grpc-retry-pushback-ms` trailer, HTTP's Retry-After. */
  readonly retryAfterMs?: number;
}

/** A gRPC call's admission: refused, or let through with the function to call when the call ends. */
export type GrpcAdmission = GrpcRefusal | InboundRelease;

/** Counts of inbound decisions, for diagnostics. */
export interface InboundCounters {
  denied: number;
  unauthenticated: number;
  badPath: number;
  dryRunDenials: number;
}

/** Where the gate's decisions are counted (the runtime's `enmesh_*` metrics). */
export interface InboundCounts {
  countRateLimited(service: string, scope: string): void;
  countFault(service: string, route: string, kind: 'delay' | 'abort'): void;
  countShed(service: string, dryRun: boolean): void;
  countAuthzDenial(service: string, policy: string, dryRun: boolean): void;
}

/** Inbound faults have no route: they are counted with `route=""`. */
const INBOUND_ROUTE = '';

/** A refusal by the limits, for either transport. */
interface Refusal {
  readonly status: number;
  readonly grpcCode: number;
  readonly flags: string;
  readonly message: string;
  readonly retryAfter?: string;
}

/** The limits' outcome: let through (release when done), refused, or undefined: the caller went away meanwhile. */
type Outcome = InboundRelease | Refusal | undefined;

// Envoy answers a shed request 503, which a gRPC caller reads as UNAVAILABLE.
const OVERLOADED: Refusal = Object.freeze({ status: 503, grpcCode: GRPC_UNAVAILABLE, flags: ResponseFlags.OVERLOADED, message: 'overloaded: request shed by adaptive concurrency' });

/** The settings a gate is built from, as a comparable string: a reload with the same key keeps the live gate. */
export function inboundGateKey(svc: ServiceModel, model: MeshModel): string {
  const authz = model.policies.authorization.filter((p) => p.target === svc.name);
  const authn = model.policies.authentication.filter((p) => p.target === svc.name);
  return JSON.stringify([svc.rateLimit, svc.adaptiveConcurrency, svc.inboundFault, authz, authn, model.mesh.trustDomain]);
}

export class InboundGate {
  readonly key: string;
  readonly counters: InboundCounters = { denied: 0, unauthenticated: 0, badPath: 0, dryRunDenials: 0 };
  /** Config problems that do not stop the gate but make a policy weaker than it reads. */
  readonly warnings: readonly string[];
  readonly #limiter: RateLimitCheck | undefined;
  readonly #limiterScope: 'local' | 'global';
  readonly #adaptive: AdaptiveConcurrencyLimiter | undefined;
  readonly #guard: InboundGuardOptions | undefined;
  readonly #authenticator: JwtAuthenticator | undefined;
  readonly #fault: FaultInjector | undefined;
  readonly #abort: Refusal | undefined;
  readonly #abortAfterDelay: Refusal | undefined;
  readonly #counts: InboundCounts | undefined;
  readonly #service: string;

  constructor(svc: ServiceModel, model: MeshModel, counts?: InboundCounts, globalLimiter?: GlobalLimiterFactory) {
    this.#counts = counts;
    this.#service = svc.name;
    this.key = inboundGateKey(svc, model);
    const authz = model.policies.authorization.filter((p) => p.target === svc.name);
    const authn = model.policies.authentication.filter((p) => p.target === svc.name);
    const fault = svc.inboundFault !== undefined ? new FaultInjector(`${svc.name}/inbound`, svc.inboundFault) : undefined;
    this.#fault = fault;
    if (fault !== undefined && fault.abortStatus > 0) {
      const grpcCode = grpcStatusOfFault(fault.abortStatus);
      this.#abort = Object.freeze({ status: fault.abortStatus, grpcCode, flags: ResponseFlags.FAULT_INJECTED, message: 'fault filter abort' });
      this.#abortAfterDelay = Object.freeze({ ...this.#abort, flags: `${ResponseFlags.DELAY_INJECTED},${ResponseFlags.FAULT_INJECTED}` });
    }
    const rl = svc.rateLimit;
    if (rl?.side === 'server') {
      // Shared in Redis like the client side's, when the mesh has Redis; else (or without it) per process.
      const global = rl.scope === 'global' ? globalLimiter?.(svc) : undefined;
      this.#limiter = global ?? new LocalRateLimiter(`${svc.name}/inbound`, rl);
      this.#limiterScope = global !== undefined ? 'global' : 'local';
    } else {
      this.#limiterScope = 'local';
    }
    this.#adaptive = svc.adaptiveConcurrency !== undefined ? new AdaptiveConcurrencyLimiter(svc.name, svc.adaptiveConcurrency) : undefined;
    let warnings: readonly string[] = [];
    if (authz.length > 0 || authn.length > 0) {
      this.#authenticator = authn.length > 0 ? authenticatorsByTarget(authn).get(svc.name) : undefined;
      const authorizer =
        authz.length > 0
          ? compileAuthorization(authz, {
              trustDomain: model.mesh.trustDomain,
              onDryRun: (e) => {
                // Only would-be denials: a dry-run policy that would let a denied request through is not one.
                if (e.wouldBe.allowed) return;
                this.counters.dryRunDenials++;
                this.#counts?.countAuthzDenial(svc.name, e.wouldBe.policy ?? '', true);
              },
            })
          : undefined;
      if (authorizer !== undefined) warnings = authorizer.warnings;
      this.#guard = {
        service: svc.name,
        ...(authorizer !== undefined ? { authorizer } : {}),
        ...(this.#authenticator !== undefined ? { authenticator: this.#authenticator } : {}),
      };
    }
    this.warnings = warnings;
  }

  get active(): boolean {
    return this.#limiter !== undefined || this.#adaptive !== undefined || this.#guard !== undefined || this.#fault !== undefined;
  }

  get #limits(): boolean {
    return this.#limiter !== undefined || this.#adaptive !== undefined || this.#fault !== undefined;
  }

  /**
   * Undefined when the request was refused (the response is already sent);
   * else the function to call when the response is done. A promise when the
   * request must wait (a JWT to verify, a shared rate limit in Redis, an
   * injected delay).
   */
  admit(req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined | Promise<InboundRelease | undefined> {
    const guard = this.#guard;
    if (guard === undefined) return this.#admitHttpLimits(req, res);
    let verdict: InboundVerdict | Promise<InboundVerdict>;
    try {
      verdict = checkInbound(req, guard);
    } catch {
      return failClosed(res);
    }
    if (!(verdict instanceof Promise)) return this.#afterVerdict(verdict, req, res);
    return verdict.then(
      (v) => this.#afterVerdict(v, req, res),
      () => failClosed(res),
    );
  }

  #afterVerdict(verdict: InboundVerdict, req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined | Promise<InboundRelease | undefined> {
    if (verdict.ok) return this.#admitHttpLimits(req, res);
    this.#count(verdict);
    sendRefusal(res, verdict);
    return undefined;
  }

  #admitHttpLimits(req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined | Promise<InboundRelease | undefined> {
    if (!this.#limits) return NOTHING_TO_RELEASE;
    const outcome = this.#decide(new HttpLimitView(req), () => res.closed);
    if (!(outcome instanceof Promise)) return answerHttp(outcome, res);
    return outcome.then(
      (o) => answerHttp(o, res),
      () => failClosed(res),
    );
  }

  /**
   * The same checks for an inbound gRPC call, on its method path (method
   * `POST`, as Istio sees gRPC) and metadata. Undefined: nothing to check;
   * else the refusal, or the function to call when the call ends (a promise
   * when a check must wait). Refusals: UNAUTHENTICATED (bad JWT),
   * PERMISSION_DENIED (authorization), RESOURCE_EXHAUSTED (rate limit),
   * UNAVAILABLE (shed by adaptive concurrency, as Envoy's 503 reads in
   * gRPC), and for an injected abort the configured status mapped as gRPC
   * maps HTTP statuses (a status below 200 from xDS is a gRPC code already).
   */
  admitGrpc(call: GrpcInboundRequest): GrpcAdmission | Promise<GrpcAdmission> | undefined {
    const guard = this.#guard;
    if (guard === undefined) return this.#limits ? this.#admitGrpcLimits(call) : undefined;
    const refusal = (verdict: InboundVerdict): GrpcAdmission | Promise<GrpcAdmission> => {
      if (verdict.ok) return this.#admitGrpcLimits(call);
      this.#count(verdict);
      return { code: verdict.status === 401 ? GRPC_UNAUTHENTICATED : GRPC_PERMISSION_DENIED, details: verdict.message };
    };
    return Promise.resolve()
      .then(() => checkAccess(guard, { method: 'POST', path: call.method, headers: call.headers, peer: call.peer }))
      .then(refusal)
      .catch(() => GRPC_CHECK_FAILED);
  }

  #admitGrpcLimits(call: GrpcInboundRequest): GrpcAdmission | Promise<GrpcAdmission> {
    if (!this.#limits) return NOTHING_TO_RELEASE;
    const outcome = this.#decide(new GrpcLimitView(call), call.cancelled ?? NEVER);
    if (!(outcome instanceof Promise)) return answerGrpc(outcome);
    return outcome.then(answerGrpc, () => GRPC_CHECK_FAILED);
  }

  #count(verdict: Extract<InboundVerdict, { ok: false }>): void {
    if (verdict.status === 403) {
      this.counters.denied++;
      this.#counts?.countAuthzDenial(this.#service, verdict.policy ?? '', false);
    } else if (verdict.status === 401) this.counters.unauthenticated++;
    else this.counters.badPath++;
  }

  // ---- the limits, for either transport: rate limit, then fault injection, then adaptive concurrency ----

  #decide(view: LimitView, gone: () => boolean): Outcome | Promise<Outcome> {
    const limiter = this.#limiter;
    if (limiter === undefined) return this.#afterRateLimit(view, gone);
    const wait = limiter.check(view);
    if (typeof wait === 'number') return wait > 0 ? this.#rateLimited(wait) : this.#afterRateLimit(view, gone);
    // A shared limit (Redis): the caller may have gone while it was asked.
    return wait.then((w) => (w > 0 ? this.#rateLimited(w) : gone() ? undefined : this.#afterRateLimit(view, gone)));
  }

  #rateLimited(waitMs: number): Refusal {
    this.#counts?.countRateLimited(this.#service, this.#limiterScope);
    return { status: 429, grpcCode: GRPC_RESOURCE_EXHAUSTED, flags: ResponseFlags.RATE_LIMITED, message: 'rate limit exceeded', retryAfter: retryAfterSeconds(waitMs) };
  }

  /** Inbound fault injection (chaos testing of this service): abort, or hold the request before adaptive concurrency sees it. */
  #afterRateLimit(view: LimitView, gone: () => boolean): Outcome | Promise<Outcome> {
    const fault = this.#fault;
    const f = fault === undefined ? FAULT_NONE : fault.decide(view);
    if (f === FAULT_NONE) return this.#acquire(undefined);
    // One count per faulted request, as outbound: an abort (delayed or not) is an abort.
    this.#counts?.countFault(this.#service, INBOUND_ROUTE, (f & FAULT_ABORT) !== 0 ? 'abort' : 'delay');
    if ((f & FAULT_DELAY) === 0) {
      // Answered at once: the faulted request is over.
      fault!.release();
      return this.#abort!;
    }
    return new Promise((resolve) =>
      setTimeout(() => {
        if (gone()) {
          fault!.release();
          resolve(undefined);
        } else if ((f & FAULT_ABORT) !== 0) {
          fault!.release();
          resolve(this.#abortAfterDelay!);
        } else resolve(this.#acquire(fault));
      }, fault!.delayMs),
    );
  }

  /** Adaptive concurrency; `fault`: the delay fault whose slot the request holds until it ends. */
  #acquire(fault: FaultInjector | undefined): Outcome {
    const adaptive = this.#adaptive;
    if (adaptive === undefined) return fault === undefined ? NOTHING_TO_RELEASE : () => fault.release();
    const wouldShed = adaptive.counters.wouldShed;
    if (!adaptive.tryAcquire()) {
      fault?.release();
      this.#counts?.countShed(this.#service, false);
      return OVERLOADED;
    }
    if (adaptive.counters.wouldShed !== wouldShed) this.#counts?.countShed(this.#service, true);
    const started = performance.now();
    if (fault === undefined) return () => adaptive.release(performance.now() - started);
    return () => {
      fault.release();
      adaptive.release(performance.now() - started);
    };
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = { counters: { ...this.counters } };
    if (this.#limiter?.snapshot !== undefined) out.rateLimit = this.#limiter.snapshot();
    if (this.#adaptive !== undefined) out.adaptiveConcurrency = this.#adaptive.snapshot();
    if (this.#fault !== undefined) out.fault = this.#fault.snapshot();
    return out;
  }

  /** Global-limit decisions taken locally because Redis failed or timed out (undefined: not a global limit). */
  get rateLimitFallbacks(): number | undefined {
    const s = this.#limiter?.snapshot?.() as { counters?: { fallbacks?: number } } | undefined;
    return s?.counters?.fallbacks;
  }

  close(): void {
    this.#adaptive?.close();
    this.#authenticator?.close();
    void this.#limiter?.close?.();
  }
}

/** What the rate limit and fault injection read from a request or call. */
type LimitView = RateLimitRequest;

/** An HTTP request as the limits see it: the caller's service from its verified mTLS identity. */
class HttpLimitView implements LimitView {
  readonly #req: http.IncomingMessage;
  constructor(req: http.IncomingMessage) {
    this.#req = req;
  }
  get path(): string {
    return this.#req.url ?? '/';
  }
  header(name: string): string | undefined {
    const v = this.#req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  get sourceService(): string | undefined {
    return peerOf(this.#req)?.service;
  }
}

/** A gRPC call as the limits see it: the method path, the metadata, the verified caller's service. */
class GrpcLimitView implements LimitView {
  readonly #call: GrpcInboundRequest;
  #headers: GrpcInboundRequest['headers'] | undefined;
  constructor(call: GrpcInboundRequest) {
    this.#call = call;
  }
  get path(): string {
    return this.#call.method;
  }
  header(name: string): string | undefined {
    const v = (this.#headers ??= this.#call.headers)[name];
    return typeof v === 'string' || v === undefined ? v : v.join(', ');
  }
  get sourceService(): string | undefined {
    return this.#call.peer?.service;
  }
}

const NEVER = (): boolean => false;
// Fail closed: a check that could not run must not let the call through.
const GRPC_CHECK_FAILED: GrpcRefusal = Object.freeze({ code: GRPC_INTERNAL, details: 'inbound check failed' });

function answerHttp(o: Outcome, res: http.ServerResponse): InboundRelease | undefined {
  if (o === undefined || typeof o === 'function') return o;
  refuse(res, o.status, o.flags, o.message, o.retryAfter);
  return undefined;
}

function answerGrpc(o: Outcome): GrpcAdmission {
  // Cancelled meanwhile: nothing held, and no one to answer.
  if (o === undefined) return CALL_CANCELLED;
  if (typeof o === 'function') return o;
  return o.retryAfter === undefined ? { code: o.grpcCode, details: o.message, flags: o.flags } : { code: o.grpcCode, details: o.message, flags: o.flags, retryAfterMs: Number(o.retryAfter) * 1000 };
}
const CALL_CANCELLED: GrpcRefusal = Object.freeze({ code: GRPC_CANCELLED, details: 'cancelled' });

/**
 * The gRPC status of an injected abort: below 200 it is a gRPC code (xDS
 * `grpc_status`), else an HTTP status read the way a gRPC client reads one
 * (gRPC's HTTP-to-gRPC status mapping, which Envoy and grpc-js-xds apply to
 * fault aborts too).
 */
export function grpcStatusOfFault(status: number): number {
  if (status < 200) return status;
  switch (status) {
    case 400:
      return GRPC_INTERNAL;
    case 401:
      return GRPC_UNAUTHENTICATED;
    case 403:
      return GRPC_PERMISSION_DENIED;
    case 404:
      return GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_UNAVAILABLE;
    default:
      return GRPC_UNKNOWN;
  }
}

/** A check that could not run does not let the request through. */
function failClosed(res: http.ServerResponse): undefined {
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('inbound check failed\n');
  return undefined;
}

function refuse(res: http.ServerResponse, status: number, flag: string, body: string, retryAfter: string | undefined): void {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  // Set on the response, not only written: the destination-side metrics and access log read it back.
  res.setHeader(RESPONSE_FLAGS_HEADER, flag);
  res.writeHead(status, headers);
  res.end(body);
}
