/**
 * One outbound request to a mesh service: route → backend → endpoint, with
 * per-try and total timeouts, retries (budgeted, backed off, body replayed
 * within a limit) and deadline propagation.
 *
 * It speaks undici's dispatch-handler protocol because every HTTP transport is
 * driven through it: undici and fetch directly (as an interceptor), node:http
 * through its adapter. So each policy is applied in exactly one place.
 *
 * Layer order inside a call (outermost first), and why:
 *   fault          — injected delay/abort come first, as Envoy's fault filter
 *                    sits before its router; a delay does not eat the timeout;
 *   total timeout  — bounds everything below, including the wait for a
 *                    connection-pool slot and backoff sleeps;
 *   rate limit     — refuses with 429 before any upstream capacity is taken;
 *   concurrency    — maxRequests/maxConnections/maxPendingRequests: fail fast (503 UO) past the queue;
 *   breaker        — sits above the retry loop so it sees the call's final
 *                    outcome (timeouts included), not each attempt;
 *   retry loop     — sees per-try timeouts as retriable failures;
 *   per-try timer  — one attempt only;
 *   balancer pick  — per attempt, avoiding the endpoint that just failed.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CompiledRoute, RequestView } from '../routing/types.ts';
import type { Balancer, EndpointState, PickContext } from '../cluster/types.ts';
import type { BackendRef } from '../model/types.ts';
import type { CompiledMesh, RouteRuntime, ServiceRuntime } from './compiled-mesh.ts';
import type { MeshRuntime } from './mesh-runtime.ts';
import { type HeaderRecord, headerValue, toHeaderRecord } from './headers.ts';
import { ReplayableBody, isAsyncIterable, isStaticBody } from './replayable-body.ts';
import { applyHeaderMutation } from '../routing/header-mutation.ts';
import { rewriteRoutePath, redirectLocation } from '../routing/path-rewrite.ts';
import { computeHashKey } from '../cluster/hash-key.ts';
import { RetryState } from '../policy/retry-plan.ts';
import { isRetriableStatus } from '../policy/retry-classifier.ts';
import { currentDeadline, deadlineStorage, outboundTimeoutHeader, TIMEOUT_HEADER } from '../policy/deadline.ts';
import { EnmeshError } from '../errors.ts';
import { deadlineExceededError, perTryTimeoutError, startTimer, totalTimeoutError } from '../policy/attempt-timer.ts';
import { deadlineListFor, type DeadlineEntry, type DeadlineList } from '../policy/deadline-list.ts';
import type { ClusterPolicies } from './cluster-policies.ts';
import { FAULT_ABORT, FAULT_DELAY, FAULT_NONE, type FaultInjector } from '../resilience/fault.ts';
import { ADMITTED, OVERFLOW, type ConcurrencyLimit, type SlotWaiter } from '../resilience/concurrency-limit.ts';
import { outcomeForError, outcomeForStatus, type Outcome } from '../resilience/outlier-detector.ts';
import { retryAfterSeconds } from '../resilience/rate-limit-descriptors.ts';
import { HedgeTimer } from '../resilience/hedge.ts';
import type { AttemptInfo, AttemptSpan, CallSpan } from '../telemetry/tracing.ts';
import { clusterName } from '../xds/resource-names.ts';
import { ResponseFlags, RESPONSE_FLAGS_HEADER as FLAGS_HEADER, localReplyForError } from '../policy/response-flags.ts';

export type DispatchFn = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean;
type Controller = Dispatcher.DispatchController;
/** undici's Request reads `servername` from the dispatch options; its types do not list it. */
type UpstreamOptions = Dispatcher.DispatchOptions & { servername?: string | null };
type Handler = Dispatcher.DispatchHandler;
/** Response headers as undici's controller carries them: the raw name/value list, or parsed. */
type RawHeaders = Buffer[] | string[] | Record<string, string | string[] | undefined>;

/** Attempt details given to a span that records nothing (it ignores them). */
const NOT_RECORDED: AttemptInfo = Object.freeze({ attempt: 0, cluster: '', endpoint: '', hedge: false });

/** Bodies of retried responses larger than this are not drained; the connection is closed instead. */
const MAX_DRAIN_BYTES = 64 * 1024;

/** Passes a streamed request body through, counting its bytes on the call. */
async function* countedBody(source: AsyncIterable<unknown>, call: OutboundCall): AsyncGenerator<unknown> {
  for await (const chunk of source) {
    call.requestBodyBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength;
    yield chunk;
  }
}

/** The limits a 503 UO names: the ones configured. */
function overflowLimits(limit: ConcurrencyLimit): string {
  const parts: string[] = [];
  if (limit.maxRequests !== Infinity) parts.push(`maxRequests ${limit.maxRequests}`);
  if (limit.maxConnections !== Infinity) parts.push(`maxConnections ${limit.maxConnections}`);
  parts.push(`maxPendingRequests ${limit.maxPendingRequests}`);
  return parts.join(', ');
}

/** Handler for one attempt; reports back to the call. */
class AttemptHandler implements Handler {
  readonly call: OutboundCall;
  readonly endpoint: EndpointState;
  readonly startedAt: number;
  controller: Controller | undefined;
  /** Set once the call has given up on this attempt (timeout, retry, app abort). */
  abandoned = false;
  /** A hedged copy cancelled because another answered first. */
  lostRace = false;
  /** Draining a response that will be retried. */
  draining = false;
  drained = 0;
  /** Backoff to wait once a draining response has been read. */
  retryDelay = 0;
  latencyMs = 0;
  /** Set when the call has accounted for this attempt's end (exactly once). */
  settled = false;
  /** Outlier outcome of the response headers, once they came. */
  outcome: Outcome | undefined = undefined;
  /** Status of the response headers (0 until they come). */
  status = 0;
  /** Load-report counters of the endpoint's locality (control-plane mode). */
  load: import('../telemetry/load-stats.ts').LocalityLoad | undefined = undefined;
  span: AttemptSpan | undefined = undefined;
  perTryTimer: NodeJS.Timeout | undefined;

  constructor(call: OutboundCall, endpoint: EndpointState, now: number) {
    this.call = call;
    this.endpoint = endpoint;
    this.startedAt = now;
  }
  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.abandoned) controller.abort(new EnmeshError('ENMESH_ERR_TIMEOUT', 'attempt abandoned'));
    else if (this.call.paused) controller.pause();
  }
  /** Request body progress, as undici reports it (npm undici does; Node's bundled copy does not): the application's handler sees it too. */
  onBodySent(chunk: Buffer): void {
    if (!this.abandoned) this.call.handler.onBodySent?.(chunk);
  }
  onRequestSent(): void {
    if (!this.abandoned) this.call.handler.onRequestSent?.();
  }
  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    this.call.onAttemptResponseStart(this, controller, statusCode, headers as HeaderRecord, statusMessage);
  }
  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.draining) {
      this.drained += chunk.length;
      if (this.drained > MAX_DRAIN_BYTES) controller.abort(new EnmeshError('ENMESH_ERR_TIMEOUT', 'retried response too large to drain'));
      return;
    }
    if (this.abandoned) return;
    this.call.responseBytes += chunk.length;
    this.call.handler.onResponseData?.(this.call, chunk);
  }
  onResponseEnd(controller: Controller, trailers: Record<string, string | string[] | undefined>): void {
    this.call.onAttemptEnd(this, controller, trailers);
  }
  onResponseError(_controller: Controller, err: Error): void {
    this.call.onAttemptError(this, err);
  }
  onRequestUpgrade(controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: Duplex): void {
    this.call.onAttemptUpgrade(this, controller, statusCode, headers as HeaderRecord, socket);
  }
}

/**
 * The call is also the controller the application's handler gets: it outlives
 * attempts and forwards pause/resume/abort to whichever attempt is current.
 */
export class OutboundCall implements RequestView, SlotWaiter, DeadlineEntry, PickContext, Controller {
  readonly runtime: MeshRuntime;
  readonly svc: ServiceRuntime;
  readonly compiled: CompiledMesh;
  readonly opts: Dispatcher.DispatchOptions;
  readonly handler: Handler;
  readonly dispatch: DispatchFn;
  readonly method: string;
  readonly path: string;
  /** The controller of the attempt whose response the application is reading. */
  #attemptController: Controller | undefined;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;
  /** What the application got as response headers: undici's `responseHeaders: 'raw'` reads them from here. */
  rawHeaders: RawHeaders | null = null;
  rawTrailers: RawHeaders | null = null;
  // DeadlineEntry: the route timeout's place on its deadline list.
  dlNext: DeadlineEntry | null = null;
  dlPrev: DeadlineEntry | null = null;
  dlAt = 0;
  dlList: DeadlineList | null = null;
  // PickContext of the current pick.
  hashKey: string | undefined = undefined;
  avoid: EndpointState | undefined = undefined;

  #headers: HeaderRecord | undefined;
  #route!: CompiledRoute;
  #routeRt!: RouteRuntime;
  #backend!: BackendRef;
  #balancer: Balancer | undefined;
  #retry: RetryState | undefined;
  #body: unknown;
  #replay: ReplayableBody | undefined;
  #upstreamPath = '';
  #current: AttemptHandler | undefined;
  #lastEndpoint: EndpointState | undefined;
  #deadline = Infinity;
  #totalTimer: NodeJS.Timeout | undefined;
  #backoffTimer: NodeJS.Timeout | undefined;
  #delivered = false;
  #finished = false;
  #attempts = 0;
  #policies: ClusterPolicies | undefined;
  /** The fault injector holding an active-fault slot for this call, to release at the end. */
  #fault: FaultInjector | undefined;
  #faultFlags = '';
  #queued = false;
  #holdsSlot = false;
  /** Attempts started and not yet settled (more than one only while hedging). */
  #live = 0;
  #hedge: HedgeTimer | undefined;
  /** Every attempt of a hedged call, to cancel the losers. */
  #hedged: AttemptHandler[] | undefined;
  /** The call's trace span, when tracing is on. */
  #span: CallSpan | undefined;
  #holdsBreaker = false;
  /** Status delivered to the app (0 while none, or when the call ended in an error). */
  #finalStatus = 0;
  #startedAt = 0;
  /** Response flags of what the app got, for metrics. */
  #flags = '';
  /** Response body bytes delivered to the app. */
  responseBytes = 0;
  /** Bytes of a streamed request body read so far; -1 when not counted that way. */
  requestBodyBytes = -1;
  /** The app called an https:// origin: endpoints are reached over TLS too. */
  #secure = false;
  /** The mesh set the Host header (the app gave none): TLS server name follows from it. */
  #hostSet = false;

  constructor(runtime: MeshRuntime, compiled: CompiledMesh, svc: ServiceRuntime, opts: Dispatcher.DispatchOptions, handler: Handler, dispatch: DispatchFn) {
    this.runtime = runtime;
    this.compiled = compiled;
    this.svc = svc;
    this.opts = opts;
    this.handler = handler;
    this.dispatch = dispatch;
    this.method = opts.method ?? 'GET';
    this.path = opts.path ?? '/';
    const origin = opts.origin;
    this.#secure = typeof origin === 'string' ? origin.startsWith('https:') : origin?.protocol === 'https:';
  }

  // ---- Controller (the application's view of the call) ----
  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }
  pause(): void {
    this.#paused = true;
    this.#attemptController?.pause();
  }
  resume(): void {
    this.#paused = false;
    this.#attemptController?.resume();
  }
  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#abortByApp(reason);
  }

  // ---- RequestView (lazy: headers are only copied when a route needs them) ----
  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }
  /** The route's name (rate-limit descriptors key on it). */
  get route(): string {
    return this.#route.route.name;
  }
  /** This process's own service, the source of the call. */
  get sourceService(): string | undefined {
    return this.runtime.serviceName;
  }
  /** The inbound request's peer address, when this call is made while handling one. */
  get sourceIp(): string | undefined {
    return deadlineStorage.getStore()?.sourceIp;
  }
  get headers(): HeaderRecord {
    return (this.#headers ??= toHeaderRecord(this.opts.headers));
  }

  /** Runs the call. Returns true like a dispatch does (the caller may keep writing). */
  start(): boolean {
    const now = performance.now();
    this.#startedAt = now;
    // No context object: undici's own clients pass none either.
    this.handler.onRequestStart?.(this, null as never);
    if (this.#aborted) return true;

    const selected = this.svc.table.select(this);
    if (selected === undefined) {
      this.#localReply(404, `no route for ${this.method} ${this.path} in service ${this.svc.service.name}`, ResponseFlags.NO_ROUTE);
      return true;
    }
    this.#route = selected;
    const route = selected.route;
    if (route.directResponse !== undefined) {
      const dr = route.directResponse;
      this.#localReply(dr.status, dr.body, undefined, dr.headers, true);
      return true;
    }
    if (route.redirect !== undefined) {
      const location = redirectLocation(this.path, this.svc.authority, this.#secure ? 'https' : 'http', route.redirect, route.match.path?.kind === 'prefix' ? route.match.path.value : undefined);
      this.#localReply(route.redirect.status, '', undefined, [['location', location]], true);
      return true;
    }

    this.#routeRt = this.svc.routeRuntime(route);
    this.#backend = selected.pickBackend(this.runtime.random());
    this.#balancer = this.compiled.balancerFor(this.#backend);
    this.#policies = this.compiled.policiesFor(this.#backend.service);
    this.#upstreamPath = route.rewritePrefix !== undefined ? rewriteRoutePath(route, this.path) : this.path;
    const tracing = this.runtime.tracing;
    // The call's details are only built for spans that will be recorded.
    if (tracing !== undefined) this.#span = tracing.quietCall() ?? tracing.recordCall({ service: this.#backend.service, method: this.method, path: this.path, route: route.name, protocol: 'http' });

    const fault = this.#routeRt.fault;
    const f = fault === undefined ? FAULT_NONE : fault.decide(this);
    if (f !== FAULT_NONE) {
      this.#fault = fault;
      const kind = (f & FAULT_ABORT) !== 0 ? 'abort' : 'delay';
      this.#span?.setFault(kind);
      this.runtime.countFault(this.#backend.service, route.name, kind);
      if ((f & FAULT_DELAY) !== 0) {
        this.#faultFlags = ResponseFlags.DELAY_INJECTED;
        this.#backoffTimer = setTimeout(() => {
          this.#backoffTimer = undefined;
          this.#afterFault(f, performance.now());
        }, fault!.delayMs);
        return true;
      }
    }
    this.#afterFault(f, now);
    return true;
  }

  /** `now` is passed down the synchronous path so a request reads the clock as few times as it can. */
  #afterFault(f: number, now: number): void {
    if (this.#finished) return;
    if ((f & FAULT_ABORT) !== 0) {
      const flags = this.#faultFlags === '' ? ResponseFlags.FAULT_INJECTED : `${this.#faultFlags},${ResponseFlags.FAULT_INJECTED}`;
      this.#localReply(this.#fault!.abortStatus, 'fault filter abort', flags);
      return;
    }
    const route = this.#route.route;
    // Upstream headers: the app's, plus route mutations, the service authority as Host.
    const headers = this.headers;
    if (headers.host === undefined) {
      headers.host = this.svc.authority;
      this.#hostSet = true;
    }
    if (route.requestHeaders !== undefined) applyHeaderMutation(headers, route.requestHeaders);

    // Deadline: the route timeout, bounded by the inbound request's remaining deadline.
    const inbound = currentDeadline();
    const routeDeadline = route.timeoutMs > 0 ? now + route.timeoutMs : Infinity;
    this.#deadline = Math.min(inbound, routeDeadline);
    if (inbound <= routeDeadline) {
      if (inbound !== Infinity) this.#totalTimer = startTimer(Math.max(0, inbound - now), () => this.#onTotalTimeout(true));
    } else {
      // The route's own timeout: same duration for every call, so a shared ordered list, not a timer.
      deadlineListFor(route.timeoutMs).add(this, now);
    }

    const limiter = this.#policies?.limiter;
    if (limiter === undefined) {
      this.#admit(now);
      return;
    }
    const wait = limiter.check(this);
    if (typeof wait === 'number') this.#afterRateLimit(wait, now);
    else void wait.then((ms) => this.#afterRateLimit(ms, performance.now()));
  }

  #afterRateLimit(waitMs: number, now: number): void {
    if (this.#finished) return;
    if (waitMs > 0) {
      this.runtime.countRateLimited(this.#backend.service, this.#policies?.limiter !== undefined && 'redis' in this.#policies.limiter ? 'global' : 'local');
      this.#localReply(429, `rate limit of ${this.#backend.service} exceeded`, ResponseFlags.RATE_LIMITED, [['retry-after', retryAfterSeconds(waitMs)]]);
      return;
    }
    this.#admit(now);
  }

  /** Concurrency limit of the destination: a slot now, a place in its bounded queue, or 503 UO. */
  #admit(now: number): void {
    const limit = this.#policies?.concurrency;
    if (limit !== undefined) {
      const r = limit.acquire(this);
      if (r === OVERFLOW) {
        this.#reportDrop();
        this.#localReply(503, `${this.#backend.service}: too many requests in flight and queued (${overflowLimits(limit)})`, ResponseFlags.UPSTREAM_OVERFLOW);
        return;
      }
      if (r !== ADMITTED) {
        this.#queued = true;
        return;
      }
      this.#holdsSlot = true;
    }
    this.#afterSlot(now);
  }

  /** A call refused by the destination's limits is a drop in load reports (LRS counts circuit-breaker overflow so). */
  #reportDrop(): void {
    this.runtime.load?.drop(clusterName(this.#backend.service, this.svc.service.port, this.#backend.subset));
  }

  /** @internal a queued call got its slot. */
  onSlot(): void {
    this.#queued = false;
    this.#holdsSlot = true;
    if (this.#finished) {
      this.#releaseSlot();
      return;
    }
    this.#afterSlot(performance.now());
  }

  #afterSlot(now: number): void {
    const breaker = this.#policies?.breaker;
    if (breaker !== undefined) {
      if (!breaker.tryAcquire()) {
        this.#reportDrop();
        this.#localReply(503, `${this.#backend.service}: circuit breaker open`, ResponseFlags.UPSTREAM_OVERFLOW);
        return;
      }
      this.#holdsBreaker = true;
    }
    const rr = this.#routeRt;
    let body: unknown = this.opts.body;
    // A streamed body of unknown length is counted as the upstream reads it, for request_bytes and
    // the access log (fetch passes every body as a stream; a known length comes as Content-Length).
    // Not from onBodySent: Node's bundled undici does not report it to a handler like ours. Known
    // difference: undici sends a Node stream that has ended by then with its Content-Length; wrapped,
    // it goes chunked.
    if (!isStaticBody(body) && isAsyncIterable(body) && (this.runtime.metrics !== undefined || this.runtime.accessLog !== undefined) && this.headers['content-length'] === undefined) {
      this.requestBodyBytes = 0;
      body = countedBody(body, this);
    }
    const mirror = rr.mirror;
    // An upgrade is not mirrored: a copy of the handshake alone would open a tunnel nobody speaks on.
    if (mirror !== undefined && this.opts.upgrade == null && mirror.shouldMirror()) {
      // A copy to the mirror target, fire and forget: its outcome never reaches the app.
      if (isStaticBody(body)) mirror.send(this.method, this.#upstreamPath, this.headers, body as string | Uint8Array | null);
      else if (isAsyncIterable(body)) body = mirror.tee(body, this.method, this.#upstreamPath, this.headers);
    }
    if (rr.retry !== undefined || rr.hedge !== undefined) {
      rr.budget?.recordRequest(now);
      if (!isStaticBody(body) && isAsyncIterable(body)) this.#replay = new ReplayableBody(body, this.runtime.replayLimit);
      else this.#body = body;
      // Hedge only what can be sent twice at once: bodies already in memory.
      if (rr.hedge !== undefined && this.#replay === undefined) this.#hedge = new HedgeTimer(rr.hedge, () => this.#sendHedge(), () => this.#live);
    } else {
      this.#body = body;
    }
    this.#attempt(undefined, now);
    this.#hedge?.start(this.method);
  }

  /** A hedged copy's failure was dropped; if it was the last copy running, the call has failed. */
  #afterDroppedHedge(): void {
    if (this.#live > 0 || this.#finished || this.#delivered) return;
    this.#localReply(503, `${this.svc.service.name}: every hedged attempt failed`, ResponseFlags.RETRY_LIMIT_EXCEEDED);
  }

  /** The hedge timer fired with no response yet: one more copy, to an endpoint not in use. */
  #sendHedge(): boolean {
    if (this.#finished || this.#delivered || this.#backoffTimer !== undefined) return false;
    const first = this.#current;
    if (first === undefined) return false;
    const ep = this.#balancer?.pick({ avoid: this.#lastEndpoint });
    if (ep === undefined || this.#hedged?.some((a) => a.endpoint === ep && !a.settled) === true || (first.endpoint === ep && !first.settled)) return false;
    this.#hedged ??= [first];
    this.runtime.countHedge(this.#backend.service, this.#route.route.name);
    this.#attempt(ep);
    return true;
  }

  #releaseSlot(): void {
    if (this.#holdsSlot) {
      this.#holdsSlot = false;
      this.#policies?.concurrency?.release();
    }
  }

  #attempt(chosen?: EndpointState, at?: number): void {
    if (this.#finished) return;
    if (this.#replay !== undefined && !this.#replay.replayable) {
      // A retry was decided with the body still arriving, and it outgrew the replay limit before the retry began.
      this.#localReply(503, `${this.svc.service.name}: the request body outgrew the replay limit (${this.runtime.replayLimit} bytes) before it could be sent again`, ResponseFlags.RETRY_LIMIT_EXCEEDED);
      return;
    }
    const balancer = this.#balancer;
    let ep = chosen;
    if (ep === undefined && balancer !== undefined) {
      // The call is its own pick context: no object per pick.
      // The key is the backend service's: its balancer is the one that hashes (a route may send elsewhere).
      const own = this.svc.service;
      const hashOn = this.#backend.service === own.name ? own.hashOn : this.compiled.model.services.get(this.#backend.service)?.hashOn;
      this.hashKey = hashOn !== undefined ? computeHashKey(hashOn, this) : undefined;
      this.avoid = this.#lastEndpoint;
      ep = balancer.pick(this);
    }
    if (ep === undefined) {
      const target = this.#backend.subset !== undefined ? `${this.#backend.service} subset ${this.#backend.subset}` : this.#backend.service;
      this.#localReply(503, `no healthy upstream for ${target}`, ResponseFlags.NO_HEALTHY_UPSTREAM);
      return;
    }
    this.#attempts++;
    this.#lastEndpoint = ep;
    const now = at ?? performance.now();
    const attempt = new AttemptHandler(this, ep, now);
    this.#current = attempt;
    this.#live++;
    this.#hedged?.push(attempt);
    this.runtime.feedback.onStart(ep);
    if (this.runtime.load !== undefined) {
      attempt.load = this.runtime.localityLoad(ep, clusterName(this.#backend.service, this.svc.service.port, this.#backend.subset));
      attempt.load?.start();
    }

    const headers = this.headers;
    const perTry = this.#routeRt.retry?.perTryTimeoutMs ?? 0;
    // What this try may take: the call's deadline, or sooner its per-try timeout.
    const timeoutHeader = outboundTimeoutHeader(perTry > 0 && now + perTry < this.#deadline ? now + perTry : this.#deadline, now);
    if (timeoutHeader !== undefined) headers[TIMEOUT_HEADER] = timeoutHeader;
    const span = this.#span;
    if (span !== undefined && !span.recording) {
      // Not sampled: the context is only propagated; no attempt details to gather.
      attempt.span = span.startAttempt(NOT_RECORDED);
      attempt.span.inject(headers);
    } else if (span !== undefined) {
      attempt.span = span.startAttempt({
        attempt: this.#attempts,
        cluster: clusterName(this.#backend.service, this.svc.service.port, this.#backend.subset),
        endpoint: ep.authority,
        hedge: chosen !== undefined,
        ...(this.#policies?.breaker !== undefined ? { breakerState: this.#policies.breaker.state } : {}),
      });
      attempt.span.inject(headers);
    }

    if (perTry > 0) {
      attempt.perTryTimer = startTimer(perTry, () => this.#onPerTryTimeout(attempt));
    }
    const opts: UpstreamOptions = {
      ...this.opts,
      origin: this.#secure ? ep.tlsOrigin : ep.origin,
      path: this.#upstreamPath,
      headers,
      // What undici would derive from the Host header the mesh set, given so it does not parse it per request.
      servername: this.#hostSet ? this.svc.serverName : (this.opts as UpstreamOptions).servername,
      body: (this.#replay !== undefined ? this.#replay.forAttempt() : this.#body) as Dispatcher.DispatchOptions['body'],
    };
    try {
      this.dispatch(opts, attempt);
    } catch (err) {
      this.onAttemptError(attempt, err as Error);
    }
  }

  // ---- attempt callbacks ----

  onAttemptResponseStart(attempt: AttemptHandler, controller: Controller, status: number, headers: HeaderRecord, statusMessage: string | undefined): void {
    if (attempt.abandoned || this.#finished) return;
    if (status < 200) {
      // An interim response (100 Continue, 103 Early Hints) goes to the application as it came,
      // as a proxy forwards it; not while hedged copies race, whose interim answers would interleave.
      if (this.#live === 1) {
        this.rawHeaders = controller.rawHeaders ?? headers;
        this.handler.onResponseStart?.(this, status, headers, statusMessage ?? '');
      }
      return;
    }
    attempt.latencyMs = performance.now() - attempt.startedAt;
    clearTimeout(attempt.perTryTimer);
    attempt.outcome = outcomeForStatus(status);
    attempt.status = status;
    this.#routeRt.latencies?.record(attempt.latencyMs);
    const policy = this.#routeRt.retry;
    if (this.#live > 1 && policy !== undefined && status >= 500) {
      // Hedged: another copy is still running, so a failure here is dropped, not retried.
      attempt.draining = true;
      attempt.abandoned = true;
      return;
    }
    // A status the policy never retries (the common 2xx) skips the header lookup and clock read.
    if (policy !== undefined && isRetriableStatus(policy, status) && this.#canReplay()) {
      const retry = this.#retryState();
      const delay = retry.decideAfterStatus(status, headerValue(headers, 'retry-after'), this.#remaining());
      if (delay < 0 && retry.lastReason === 'budget-exhausted') this.runtime.countBudgetExhausted(this.#backend.service, this.#route.route.name);
      if (delay >= 0) {
        attempt.draining = true;
        const len = Number(headerValue(headers, 'content-length') ?? 0);
        if (len > MAX_DRAIN_BYTES) controller.abort(new EnmeshError('ENMESH_ERR_TIMEOUT', 'retried response too large to drain'));
        this.#scheduleRetry(attempt, delay);
        return;
      }
    }
    this.#delivered = true;
    this.#finalStatus = status;
    this.#attemptController = controller;
    this.#cancelOtherCopies(attempt);
    if (this.#paused) controller.pause();
    const route = this.#route.route;
    // The upstream's raw headers (names as sent) stand for the response unless the mesh changed it.
    let raw: RawHeaders = controller.rawHeaders ?? headers;
    if (route.responseHeaders !== undefined) {
      applyHeaderMutation(headers, route.responseHeaders);
      raw = headers;
    }
    // Out of retries (attempts or budget) on a status the policy retries: URX, as Envoy marks it.
    if (this.#retry?.exhaustedReason !== undefined && policy !== undefined && isRetriableStatus(policy, status)) {
      headers[FLAGS_HEADER] = ResponseFlags.RETRY_LIMIT_EXCEEDED;
      raw = headers;
    }
    if (this.#faultFlags !== '') {
      const prev = headers[FLAGS_HEADER];
      headers[FLAGS_HEADER] = prev === undefined ? this.#faultFlags : `${this.#faultFlags},${String(prev)}`;
      raw = headers;
    }
    const flags = headers[FLAGS_HEADER];
    if (flags !== undefined) this.#flags = String(flags);
    this.rawHeaders = raw;
    this.handler.onResponseStart?.(this, status, headers, statusMessage ?? '');
  }

  /** First response wins: no more hedged copies, and the others are cancelled (reported to no policy). */
  #cancelOtherCopies(winner: AttemptHandler): void {
    if (this.#hedge === undefined) return;
    this.#hedge.stop();
    for (const other of this.#hedged ?? []) {
      if (other === winner || other.settled) continue;
      other.abandoned = true;
      other.lostRace = true;
      this.#settle(other, false);
      other.controller?.abort(new EnmeshError('ENMESH_ERR_TIMEOUT', 'hedged attempt lost the race'));
    }
  }

  /**
   * The endpoint switched protocols (WebSocket, an `upgrade` request): the
   * request is over for the mesh — it is counted, its pool slot, breaker
   * window and route timeout end here — and the socket is the application's.
   */
  onAttemptUpgrade(attempt: AttemptHandler, controller: Controller, status: number, headers: HeaderRecord, socket: Duplex): void {
    if (attempt.abandoned || this.#finished) {
      socket.destroy();
      return;
    }
    const now = performance.now();
    attempt.latencyMs = now - attempt.startedAt;
    attempt.status = status;
    attempt.outcome = outcomeForStatus(status);
    this.#settle(attempt, true, undefined, now);
    this.#cancelOtherCopies(attempt);
    this.#delivered = true;
    this.#finalStatus = status;
    this.#attemptController = controller;
    this.rawHeaders = controller.rawHeaders ?? headers;
    this.#finish(now);
    this.handler.onRequestUpgrade?.(this, status, headers, socket);
  }

  onAttemptEnd(attempt: AttemptHandler, controller: Controller, trailers: Record<string, string | string[] | undefined>): void {
    // One clock reading for everything that ends here: the attempt, the endpoint's latency, the breaker, the call.
    const now = performance.now();
    if (!this.#settle(attempt, true, undefined, now)) return;
    if (attempt.draining) {
      // A retried response finished draining: the retry is already scheduled.
      attempt.draining = false;
      if (!attempt.abandoned) this.#retryAfterDrain(attempt);
      else this.#afterDroppedHedge();
      return;
    }
    if (attempt.abandoned || this.#finished) return;
    this.#finish(now);
    this.rawTrailers = controller.rawTrailers ?? trailers;
    this.handler.onResponseEnd?.(this, trailers);
  }

  onAttemptError(attempt: AttemptHandler, err: Error): void {
    if (!this.#settle(attempt, false, err)) return;
    if (attempt.draining) {
      attempt.draining = false;
      if (!attempt.abandoned) this.#retryAfterDrain(attempt);
      else this.#afterDroppedHedge();
      return;
    }
    if (this.#finished) return;
    // Hedged: another copy is still running, it may yet answer.
    if (this.#live > 0 && !this.#aborted) return;
    if (this.#aborted) {
      this.#finish();
      this.handler.onResponseError?.(this, this.#reason ?? err);
      return;
    }
    if (this.#delivered) {
      this.#finish();
      this.handler.onResponseError?.(this, err);
      return;
    }
    if (this.#routeRt.retry !== undefined && this.#canReplay()) {
      const retry = this.#retryState();
      const delay = retry.decideAfterError(err, this.#remaining());
      if (delay < 0 && retry.lastReason === 'budget-exhausted') this.runtime.countBudgetExhausted(this.#backend.service, this.#route.route.name);
      if (delay >= 0) {
        attempt.abandoned = true;
        this.#scheduleRetry(attempt, delay);
        return;
      }
    }
    this.#failWith(err);
  }

  /** Accounts for an attempt's end once; false when it was already accounted for. */
  #settle(attempt: AttemptHandler, ok: boolean, err?: Error, now = performance.now()): boolean {
    if (attempt.settled) return false;
    attempt.settled = true;
    this.#live--;
    attempt.span?.end(attempt.status, undefined, err);
    const elapsed = now - attempt.startedAt;
    // A copy that lost the hedge race, or an attempt the application aborted, did not fail at the endpoint.
    if (attempt.lostRace || this.#aborted) attempt.load?.cancel();
    else attempt.load?.end(ok && attempt.status > 0 && attempt.status < 500, elapsed);
    clearTimeout(attempt.perTryTimer);
    this.runtime.feedback.onEnd(attempt.endpoint, ok ? attempt.latencyMs : elapsed, ok, now);
    // Outlier detection: the status if headers came, else the error if the endpoint is to blame.
    const outlier = this.#policies?.outlier;
    if (outlier !== undefined) {
      const outcome = attempt.outcome ?? (err !== undefined && !this.#aborted ? outcomeForError(err) : undefined);
      if (outcome !== undefined) outlier.onResult(attempt.endpoint, outcome);
    }
    return true;
  }

  // ---- timers and aborts ----

  #abortByApp(reason: Error): void {
    if (this.#queued) {
      this.#queued = false;
      this.#policies?.concurrency?.cancel(this);
      this.#finish();
      this.handler.onResponseError?.(this, reason);
      return;
    }
    const attempt = this.#current;
    if (this.#backoffTimer !== undefined || attempt === undefined || attempt.controller === undefined) {
      // Between attempts, or the attempt has not started yet: nothing upstream will report.
      clearTimeout(this.#backoffTimer);
      if (attempt !== undefined) {
        attempt.abandoned = true;
        this.#settle(attempt, false);
      }
      if (!this.#finished) {
        this.#finish();
        this.handler.onResponseError?.(this, reason);
      }
      return;
    }
    if (this.#hedged === undefined) {
      attempt.controller.abort(reason);
      return;
    }
    for (const a of this.#hedged) if (!a.settled) a.controller?.abort(reason);
  }

  #onPerTryTimeout(attempt: AttemptHandler): void {
    if (attempt.settled || this.#finished || this.#delivered) return;
    const err = perTryTimeoutError(`${this.svc.service.name}/${this.#route.route.name}`, this.#routeRt.retry?.perTryTimeoutMs ?? 0);
    attempt.abandoned = true;
    // Report it now: an attempt still connecting has no controller to abort yet
    // (its late error is ignored because the attempt is settled).
    this.onAttemptError(attempt, err);
    attempt.controller?.abort(err);
  }

  /** @internal the route timeout passed (called by its deadline list). */
  onDeadline(): void {
    this.#onTotalTimeout(false);
  }

  #onTotalTimeout(fromInbound: boolean): void {
    this.#totalTimer = undefined;
    if (this.#finished) return;
    const route = this.#route.route;
    const where = `${this.svc.service.name}/${route.name}`;
    const err = fromInbound ? deadlineExceededError(where, Math.round(this.#deadline - this.#startedAt)) : totalTimeoutError(where, route.timeoutMs);
    const attempt = this.#current;
    clearTimeout(this.#backoffTimer);
    if (this.#queued) {
      this.#queued = false;
      this.#policies?.concurrency?.cancel(this);
    }
    for (const a of this.#hedged ?? (attempt !== undefined ? [attempt] : [])) {
      if (a.settled) continue;
      a.abandoned = true;
      this.#settle(a, false);
      a.controller?.abort(err);
    }
    if (this.#delivered) {
      this.#finish();
      this.handler.onResponseError?.(this, err);
    } else {
      this.#localReply(504, err.message, ResponseFlags.UPSTREAM_TIMEOUT);
    }
  }

  #scheduleRetry(attempt: AttemptHandler, delayMs: number): void {
    // A draining attempt retries when its body is drained (keeps the connection);
    // others retry after the backoff.
    if (attempt.draining) {
      attempt.retryDelay = delayMs;
      return;
    }
    this.#sleepThenAttempt(delayMs);
  }

  #retryAfterDrain(attempt: AttemptHandler): void {
    if (this.#finished || attempt !== this.#current) return;
    this.#sleepThenAttempt(attempt.retryDelay);
  }

  #sleepThenAttempt(delayMs: number): void {
    if (this.#finished) return;
    if (this.#aborted) {
      // The application gave up while a retried response drained: no further attempt.
      this.#finish();
      this.handler.onResponseError?.(this, this.#reason!);
      return;
    }
    this.runtime.countRetry(this.#backend.service, this.#route.route.name);
    if (delayMs <= 0) {
      this.#attempt();
      return;
    }
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined;
      this.#attempt();
    }, delayMs);
  }

  /** The retry state, made when a retry is first considered: most calls never need one. */
  #retryState(): RetryState {
    return (this.#retry ??= new RetryState(this.#routeRt.retry, this.#routeRt.budget, this.method, this.runtime.random));
  }

  #remaining(): number {
    return this.#deadline === Infinity ? Infinity : this.#deadline - performance.now();
  }

  #canReplay(): boolean {
    return this.#replay === undefined || this.#replay.replayable;
  }

  #failWith(err: Error): void {
    const reply = localReplyForError(err);
    if (reply === undefined) {
      this.#finish();
      this.handler.onResponseError?.(this, err);
      return;
    }
    const flag = this.#retry?.exhaustedReason !== undefined ? `${reply.flag},${ResponseFlags.RETRY_LIMIT_EXCEEDED}` : reply.flag;
    this.#localReply(reply.status, `${this.svc.service.name}: ${err.message}`, flag);
  }

  /** Ends the call's own bookkeeping exactly once: timers, pool slot, breaker outcome, fault slot. */
  #finish(now = performance.now()): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#totalTimer);
    this.dlList?.remove(this);
    clearTimeout(this.#backoffTimer);
    this.#hedge?.stop();
    this.#releaseSlot();
    if (this.#holdsBreaker) {
      this.#holdsBreaker = false;
      const breaker = this.#policies!.breaker!;
      if (this.#aborted) breaker.onCancel();
      else if (this.#finalStatus === 0 || this.#finalStatus >= 500) breaker.onFailure(now);
      else breaker.onSuccess(now);
    }
    if (this.#fault !== undefined) {
      this.#fault.release();
      this.#fault = undefined;
    }
    // The application gave up on the call: Envoy's downstream-cancel flag, as a sidecar would report it.
    if (this.#aborted && this.#flags === '') this.#flags = ResponseFlags.DOWNSTREAM_CANCEL;
    this.#span?.end(this.#aborted ? 0 : this.#finalStatus, this.#flags);
    const requestBytes = this.#requestBytes();
    const status = this.#aborted ? 0 : this.#finalStatus;
    const durationMs = now - this.#startedAt;
    const service = this.#backend?.service ?? this.svc.service.name;
    this.runtime.recordOutbound(service, this.#lastEndpoint, status, durationMs, requestBytes, this.responseBytes, this.#flags);
    const log = this.runtime.accessLog;
    if (log !== undefined && log.wants(status, this.#flags)) {
      const ua = this.header('user-agent');
      const requestId = this.header('x-request-id');
      log.write({
        direction: 'outbound',
        startTime: performance.timeOrigin + this.#startedAt,
        method: this.method,
        authority: this.svc.authority,
        path: this.path,
        protocol: 'HTTP/1.1',
        status,
        flags: this.#flags,
        durationMs,
        bytesReceived: this.responseBytes,
        bytesSent: requestBytes,
        ...(this.#lastEndpoint !== undefined ? { upstreamHost: this.#lastEndpoint.authority } : {}),
        ...(this.#backend !== undefined ? { upstreamCluster: clusterName(this.#backend.service, this.svc.service.port, this.#backend.subset) } : {}),
        ...(this.#route !== undefined ? { routeName: this.#route.route.name } : {}),
        attempts: this.#attempts,
        ...(this.#span !== undefined ? { traceId: this.#span.spanContext.traceId } : {}),
        ...(ua !== undefined ? { userAgent: ua } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
      });
    }
  }

  /** Request body bytes: the body's size in memory, else what was streamed, else its Content-Length. */
  #requestBytes(): number {
    const body = this.opts.body;
    if (typeof body === 'string') return Buffer.byteLength(body);
    if (body instanceof Uint8Array) return body.byteLength;
    if (this.requestBodyBytes >= 0) return this.requestBodyBytes;
    const length = this.#headers === undefined ? undefined : headerValue(this.#headers, 'content-length');
    const n = length === undefined ? 0 : Number(length);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  /** Answers the application locally, as Envoy does for mesh-level outcomes (no route, no upstream, timeout). */
  /** `routeReply`: the route's own answer (direct response, redirect), which takes its response header edits. */
  #localReply(status: number, body: string, flag: string | undefined, extra?: readonly (readonly [string, string])[], routeReply = false): void {
    this.#finalStatus = status;
    this.#flags = flag ?? '';
    // As a server answers: 204 and 304 have no body (nor a length); HEAD gets the length, not the body.
    const noContent = status === 204 || status === 304;
    const payload = Buffer.from(noContent ? '' : body);
    const sent = this.method === 'HEAD' ? 0 : payload.length;
    this.responseBytes = sent;
    this.#finish();
    const headers: HeaderRecord = noContent ? {} : { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(payload.length) };
    if (flag !== undefined) headers[FLAGS_HEADER] = flag;
    if (extra !== undefined) for (const [k, v] of extra) headers[k] = v;
    if (routeReply && this.#route.route.responseHeaders !== undefined) applyHeaderMutation(headers, this.#route.route.responseHeaders);
    const h = this.handler;
    this.rawHeaders = headers;
    try {
      // The standard reason phrase, as an upstream's (fetch's statusText, node:http's statusMessage).
      h.onResponseStart?.(this, status, headers, STATUS_CODES[status] ?? '');
      if (sent > 0 && !this.#aborted) h.onResponseData?.(this, payload);
      if (!this.#aborted) h.onResponseEnd?.(this, {});
    } catch (err) {
      // As undici does with an answer its handler throws on (an upgrade handler given no 101): the
      // request fails with that error, rather than the throw escaping from a timer or socket callback.
      h.onResponseError?.(this, err as Error);
    }
  }
}


