/**
 * Inbound admission for this process's own service, before the application
 * sees a request, in this order: the request path normalised (what is
 * checked is what the application receives), JWT authentication and
 * authorization policies (401/403), the server-side rate limit
 * (`rateLimit.side: server`, 429 RL with Retry-After), and adaptive
 * concurrency (503 OM when the process is overloaded). Refused requests
 * never count against the limits. State survives reloads while the settings
 * do not change.
 */
import type http from 'node:http';
import type { MeshModel, ServiceModel } from '../model/types.ts';
import { compileAuthorization } from '../security/authz.ts';
import { authenticatorsByTarget, type JwtAuthenticator } from '../security/jwt.ts';
import { checkAccess, checkInbound, sendRefusal, type InboundGuardOptions, type InboundVerdict } from '../security/inbound-guard.ts';
import type { PeerIdentity } from '../security/peer-verify.ts';
import type { EnmeshMetrics } from '../telemetry/mesh-metrics.ts';
import { AdaptiveConcurrencyLimiter } from '../resilience/adaptive-concurrency.ts';
import { FAULT_ABORT, FAULT_DELAY, FAULT_NONE, FaultInjector } from '../resilience/fault.ts';
import { LocalRateLimiter } from '../resilience/rate-limiter.ts';
import { retryAfterSeconds } from '../resilience/rate-limit-descriptors.ts';
import { RESPONSE_FLAGS_HEADER, ResponseFlags } from '../policy/response-flags.ts';
import { NOTHING_TO_RELEASE } from '../transports/node-http/server-hook.ts';

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
}

/** gRPC status codes of refused calls (grpc/status.h). */
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_UNAUTHENTICATED = 16;
export const GRPC_INTERNAL = 13;

/** Why a gRPC call was refused: the status to answer with. */
export interface GrpcRefusal {
  readonly code: number;
  readonly details: string;
}

/** Counts of inbound decisions, for diagnostics. */
export interface InboundCounters {
  denied: number;
  unauthenticated: number;
  badPath: number;
  dryRunDenials: number;
}

export class InboundGate {
  readonly key: string;
  readonly counters: InboundCounters = { denied: 0, unauthenticated: 0, badPath: 0, dryRunDenials: 0 };
  readonly #limiter: LocalRateLimiter | undefined;
  readonly #adaptive: AdaptiveConcurrencyLimiter | undefined;
  readonly #guard: InboundGuardOptions | undefined;
  readonly #authenticator: JwtAuthenticator | undefined;
  readonly #fault: FaultInjector | undefined;

  readonly #metrics: (() => EnmeshMetrics | undefined) | undefined;
  readonly #service: string;

  constructor(svc: ServiceModel, model: MeshModel, metrics?: () => EnmeshMetrics | undefined) {
    this.#metrics = metrics;
    this.#service = svc.name;
    const authz = model.policies.authorization.filter((p) => p.target === svc.name);
    const authn = model.policies.authentication.filter((p) => p.target === svc.name);
    this.key = JSON.stringify([svc.rateLimit, svc.adaptiveConcurrency, svc.inboundFault, authz, authn, model.mesh.trustDomain]);
    this.#fault = svc.inboundFault !== undefined ? new FaultInjector(`${svc.name}/inbound`, svc.inboundFault) : undefined;
    this.#limiter = svc.rateLimit?.side === 'server' ? new LocalRateLimiter(`${svc.name}/inbound`, svc.rateLimit) : undefined;
    this.#adaptive = svc.adaptiveConcurrency !== undefined ? new AdaptiveConcurrencyLimiter(svc.name, svc.adaptiveConcurrency) : undefined;
    if (authz.length > 0 || authn.length > 0) {
      this.#authenticator = authn.length > 0 ? authenticatorsByTarget(authn).get(svc.name) : undefined;
      this.#guard = {
        service: svc.name,
        ...(authz.length > 0
          ? {
              authorizer: compileAuthorization(authz, {
                trustDomain: model.mesh.trustDomain,
                onDryRun: (e) => {
                  this.counters.dryRunDenials++;
                  this.#metrics?.()?.authzDenials.inc({ destination_service: svc.name, policy: e.wouldBe.policy ?? '', dry_run: 'true' });
                },
              }),
            }
          : {}),
        ...(this.#authenticator !== undefined ? { authenticator: this.#authenticator } : {}),
      };
    }
  }

  get active(): boolean {
    return this.#limiter !== undefined || this.#adaptive !== undefined || this.#guard !== undefined || this.#fault !== undefined;
  }

  /**
   * Undefined when the request was refused (the response is already sent);
   * else the function to call when the response is done. A promise when the
   * request must be authenticated or authorized first.
   */
  admit(req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined | Promise<InboundRelease | undefined> {
    const guard = this.#guard;
    if (guard === undefined) return this.#admitFault(req, res);
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
    if (verdict.ok) return this.#admitFault(req, res);
    this.#count(verdict);
    sendRefusal(res, verdict);
    return undefined;
  }

  /**
   * The same authentication and authorization for an inbound gRPC call, on
   * its method path (method `POST`, as Istio sees gRPC). Undefined: nothing
   * to check; else a promise of the refusal, or undefined when allowed.
   */
  admitGrpc(call: GrpcInboundRequest): Promise<GrpcRefusal | undefined> | undefined {
    const guard = this.#guard;
    if (guard === undefined) return undefined;
    const refusal = (verdict: InboundVerdict): GrpcRefusal | undefined => {
      if (verdict.ok) return undefined;
      this.#count(verdict);
      return { code: verdict.status === 401 ? GRPC_UNAUTHENTICATED : GRPC_PERMISSION_DENIED, details: verdict.message };
    };
    // Fail closed: a check that could not run must not let the call through.
    const internal: GrpcRefusal = { code: GRPC_INTERNAL, details: 'inbound check failed' };
    return Promise.resolve()
      .then(() => checkAccess(guard, { method: 'POST', path: call.method, headers: call.headers, peer: call.peer }))
      .then(refusal, () => internal);
  }

  #count(verdict: Extract<InboundVerdict, { ok: false }>): void {
    if (verdict.status === 403) {
      this.counters.denied++;
      this.#metrics?.()?.authzDenials.inc({ destination_service: this.#service, policy: verdict.policy ?? '', dry_run: 'false' });
    } else if (verdict.status === 401) this.counters.unauthenticated++;
    else this.counters.badPath++;
  }

  /** Inbound fault injection (chaos testing of this service): abort, or hold the request before the limits see it. */
  #admitFault(req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined | Promise<InboundRelease | undefined> {
    const fault = this.#fault;
    const f = fault === undefined ? FAULT_NONE : fault.decide({ header: (name) => headerOf(req, name) });
    if (f === FAULT_NONE) return this.#admitLimits(req, res);
    res.once('close', () => fault!.release());
    const delayed = (f & FAULT_DELAY) !== 0;
    const flags = delayed ? ResponseFlags.DELAY_INJECTED : '';
    const go = (): InboundRelease | undefined => {
      if ((f & FAULT_ABORT) !== 0) {
        refuse(res, fault!.abortStatus, flags === '' ? ResponseFlags.FAULT_INJECTED : `${flags},${ResponseFlags.FAULT_INJECTED}`, 'fault filter abort', undefined);
        return undefined;
      }
      return this.#admitLimits(req, res);
    };
    if (!delayed) return go();
    return new Promise((resolve) => setTimeout(() => resolve(go()), fault!.delayMs));
  }

  #admitLimits(req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined {
    if (this.#limiter !== undefined) {
      const path = req.url ?? '/';
      const wait = this.#limiter.check({ path, header: (name) => headerOf(req, name) });
      if (wait > 0) {
        refuse(res, 429, ResponseFlags.RATE_LIMITED, 'rate limit exceeded', retryAfterSeconds(wait));
        return undefined;
      }
    }
    const adaptive = this.#adaptive;
    if (adaptive === undefined) return NOTHING_TO_RELEASE;
    if (!adaptive.tryAcquire()) {
      refuse(res, 503, ResponseFlags.OVERLOADED, 'overloaded: request shed by adaptive concurrency', undefined);
      return undefined;
    }
    const started = performance.now();
    return () => adaptive.release(performance.now() - started);
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = { counters: { ...this.counters } };
    if (this.#limiter !== undefined) out.rateLimit = this.#limiter.snapshot();
    if (this.#adaptive !== undefined) out.adaptiveConcurrency = this.#adaptive.snapshot();
    if (this.#fault !== undefined) out.fault = this.#fault.snapshot();
    return out;
  }

  close(): void {
    this.#adaptive?.close();
    this.#authenticator?.close();
  }
}

/** A check that could not run does not let the request through. */
function failClosed(res: http.ServerResponse): undefined {
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('inbound check failed\n');
  return undefined;
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function refuse(res: http.ServerResponse, status: number, flag: string, body: string, retryAfter: string | undefined): void {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', [RESPONSE_FLAGS_HEADER]: flag };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  res.writeHead(status, headers);
  res.end(body);
}
