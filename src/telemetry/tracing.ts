/**
 * Distributed tracing for mesh calls, on OpenTelemetry.
 *
 * `startTracing()` starts a tracer provider (sdk-trace-base's, the lightest
 * that exports) unless the application already registered one; then enmesh
 * joins the application's provider, so mesh spans land in the app's traces and
 * exporter. Trace context travels in W3C and B3 headers (see propagation.ts).
 *
 * Span shape of one outbound call:
 *   call span (INTERNAL, `GET reviews`)  — the logical call: route, outcome
 *     attempt span (CLIENT)              — one per try, retry or hedge: endpoint, attempt number
 * The headers of each attempt name its attempt span, so the callee's SERVER
 * span is the attempt's child and service graphs pair CLIENT with SERVER.
 *
 * Cost when not sampled: when enmesh owns the provider, an unsampled call is
 * one small object (no SDK span, no attributes); its attempts reuse it.
 */
import {
  type Attributes,
  type Context,
  context as contextApi,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SamplingDecision,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
  type TraceState,
  createContextKey,
} from '@opentelemetry/api';
import type { BasicTracerProvider, InMemorySpanExporter, Sampler, SamplingResult, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { EnmeshError } from '../errors.ts';
import type { HeaderRecord } from '../runtime/headers.ts';
import { AsyncLocalContextManager } from './context-manager.ts';
import { PooledIdGenerator } from './id-generator.ts';
import { MeshPropagator, type PropagationFormat } from './propagation.ts';

export type TraceExporterKind = 'otlp' | 'zipkin' | 'console' | 'memory';

export interface TracingOptions {
  /** Where spans go: OTLP/HTTP (protobuf), Zipkin v2 JSON, the console, or memory (tests). */
  readonly exporter: TraceExporterKind;
  /** Exporter URL. Defaults: otlp `http://127.0.0.1:4318/v1/traces`, zipkin `http://127.0.0.1:9411/api/v2/spans`. */
  readonly endpoint?: string;
  /**
   * Share of new traces sampled, 0..1. Default 0.01 (Istio's default): a
   * sampled request costs microseconds in the SDK, an unsampled one almost nothing.
   * Calls inside a trace follow the caller's decision.
   */
  readonly sampleRate?: number;
  /** `service.name` of the spans. Default `ENMESH_SERVICE`, else `unknown_service:node`. */
  readonly serviceName?: string;
  /** Formats written on outbound calls (all are read). Default tracecontext (W3C) only. */
  readonly propagation?: readonly PropagationFormat[];
  /**
   * Become the process's global tracer provider (and context manager and
   * propagator) when the application has none. Default true. With false the
   * provider is private to this handle (a process running several services in tests).
   */
  readonly register?: boolean;
  /** Extra headers for the OTLP exporter (e.g. an API key). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What a call span knows at start. */
export interface CallInfo {
  /** Destination mesh service. */
  readonly service: string;
  readonly method: string;
  readonly path?: string;
  readonly route?: string;
  readonly protocol?: 'http' | 'grpc';
}

export interface AttemptInfo {
  /** 1 for the first try. */
  readonly attempt: number;
  /** xDS-style cluster name, e.g. `outbound|9080|v1|reviews`. */
  readonly cluster: string;
  /** `host:port` of the endpoint picked. */
  readonly endpoint: string;
  readonly hedge?: boolean;
  /** Breaker state of the endpoint when picked (closed, half_open, open). */
  readonly breakerState?: string;
}

export interface ServerInfo {
  /** This process's service. */
  readonly service: string;
  readonly method: string;
  readonly path?: string;
  /** The caller's verified identity (mTLS peer SPIFFE id). */
  readonly peerPrincipal?: string;
  readonly peerAddress?: string;
}

/** One try of a call. */
export interface AttemptSpan {
  readonly spanContext: SpanContext;
  /** Writes this attempt's trace context into the outbound headers. */
  inject(headers: HeaderRecord): void;
  /** @param status HTTP status (0: none received). @param flags response flags. @param grpcStatus -1 for HTTP. */
  end(status: number, flags?: string, error?: unknown, grpcStatus?: number): void;
}

/** A mesh call: route, retries, outcome. */
export interface CallSpan {
  readonly recording: boolean;
  readonly spanContext: SpanContext;
  startAttempt(info: AttemptInfo): AttemptSpan;
  /** Records a fault injected into the call. */
  setFault(kind: 'delay' | 'abort'): void;
  setAttribute(key: string, value: string | number | boolean): void;
  end(status: number, flags?: string, error?: unknown, grpcStatus?: number): void;
}

/** An inbound request. */
export interface ServerSpan {
  readonly recording: boolean;
  readonly spanContext: SpanContext;
  /** The context to run the request's handler in (outbound calls become its children). */
  readonly context: Context;
  /** Runs `fn` in {@link context}. */
  run<T>(fn: () => T): T;
  setAttribute(key: string, value: string | number | boolean): void;
  end(status: number, flags?: string, error?: unknown, grpcStatus?: number): void;
}

const TRACER_NAME = 'enmesh';
export const DEFAULT_SAMPLE_RATE = 0.01;
/** Set on a context when enmesh has already decided to sample a new trace. */
const SAMPLED_KEY = createContextKey('enmesh.sampled');

// ---- unsampled: no SDK work ------------------------------------------------

/**
 * A call (and all its attempts) that is not recorded: only its context is
 * propagated. It is its own span context, so an unsampled call costs one
 * object.
 */
class QuietCall implements CallSpan, AttemptSpan, SpanContext {
  readonly recording = false;
  readonly traceFlags: number;
  readonly traceState: TraceState | undefined;
  /** A new unsampled root's whole `traceparent` (its ids are cut from it when asked for); '' otherwise. */
  readonly #traceparent: string;
  #traceId: string;
  #spanId: string;
  readonly #propagator: MeshPropagator;
  constructor(traceId: string, spanId: string, traceFlags: number, traceState: TraceState | undefined, propagator: MeshPropagator, traceparent = '') {
    this.#traceId = traceId;
    this.#spanId = spanId;
    this.traceFlags = traceFlags;
    this.traceState = traceState;
    this.#propagator = propagator;
    this.#traceparent = traceparent;
  }
  /** A new trace, not sampled: ids and header from the pool in one slice. */
  static newRoot(traceparent: string, propagator: MeshPropagator): QuietCall {
    return new QuietCall('', '', TraceFlags.NONE, undefined, propagator, traceparent);
  }
  get traceId(): string {
    if (this.#traceId === '') this.#traceId = this.#traceparent.slice(3, 35);
    return this.#traceId;
  }
  get spanId(): string {
    if (this.#spanId === '') this.#spanId = this.#traceparent.slice(36, 52);
    return this.#spanId;
  }
  get spanContext(): SpanContext {
    return this;
  }
  startAttempt(): AttemptSpan {
    return this;
  }
  inject(headers: HeaderRecord): void {
    this.#propagator.write(headers, this, this.#traceparent);
  }
  setFault(): void {}
  setAttribute(): void {}
  end(): void {}
}

class QuietServer implements ServerSpan {
  readonly recording = false;
  readonly spanContext: SpanContext;
  readonly context: Context;
  constructor(sc: SpanContext) {
    this.spanContext = sc;
    this.context = trace.setSpanContext(ROOT_CONTEXT, sc);
  }
  run<T>(fn: () => T): T {
    return contextApi.with(this.context, fn);
  }
  setAttribute(): void {}
  end(): void {}
}

// ---- recorded -----------------------------------------------------------------

function endSpan(span: Span, kind: 'client' | 'server', status: number, flags: string, error: unknown, grpcStatus: number): void {
  if (status > 0) span.setAttribute('http.response.status_code', status);
  if (grpcStatus >= 0) span.setAttribute('rpc.grpc.status_code', grpcStatus);
  if (flags !== '' && flags !== '-') span.setAttribute('enmesh.response_flags', flags);
  const failed = error !== undefined || status === 0 || status >= (kind === 'client' ? 400 : 500) || grpcStatus > 0;
  if (failed) {
    const message = error instanceof Error ? error.message : error !== undefined ? String(error) : undefined;
    if (error instanceof Error) span.recordException(error);
    span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
  }
  span.end();
}

class RecordedAttempt implements AttemptSpan {
  readonly spanContext: SpanContext;
  readonly #span: Span;
  readonly #propagator: MeshPropagator;
  constructor(span: Span, propagator: MeshPropagator) {
    this.#span = span;
    this.spanContext = span.spanContext();
    this.#propagator = propagator;
  }
  inject(headers: HeaderRecord): void {
    this.#propagator.write(headers, this.spanContext);
  }
  end(status: number, flags = '', error?: unknown, grpcStatus = -1): void {
    endSpan(this.#span, 'client', status, flags, error, grpcStatus);
  }
}

class RecordedCall implements CallSpan {
  readonly recording = true;
  readonly spanContext: SpanContext;
  readonly #span: Span;
  readonly #ctx: Context;
  readonly #tracer: Tracer;
  readonly #name: string;
  readonly #propagator: MeshPropagator;
  constructor(span: Span, parent: Context, tracer: Tracer, name: string, propagator: MeshPropagator) {
    this.#span = span;
    this.spanContext = span.spanContext();
    this.#ctx = trace.setSpan(parent, span);
    this.#tracer = tracer;
    this.#name = name;
    this.#propagator = propagator;
  }
  startAttempt(info: AttemptInfo): AttemptSpan {
    const attributes: Attributes = {
      'enmesh.attempt': info.attempt,
      'enmesh.cluster': info.cluster,
      'enmesh.endpoint': info.endpoint,
    };
    const colon = info.endpoint.lastIndexOf(':');
    if (colon > 0) {
      attributes['server.address'] = info.endpoint.slice(0, colon);
      attributes['server.port'] = Number(info.endpoint.slice(colon + 1));
    }
    if (info.hedge === true) attributes['enmesh.hedge'] = true;
    if (info.breakerState !== undefined) attributes['enmesh.breaker.state'] = info.breakerState;
    const span = this.#tracer.startSpan(this.#name, { kind: SpanKind.CLIENT, attributes }, this.#ctx);
    return new RecordedAttempt(span, this.#propagator);
  }
  setFault(kind: 'delay' | 'abort'): void {
    this.#span.setAttribute('enmesh.fault', kind);
    this.#span.addEvent(`fault injected: ${kind}`);
  }
  setAttribute(key: string, value: string | number | boolean): void {
    this.#span.setAttribute(key, value);
  }
  end(status: number, flags = '', error?: unknown, grpcStatus = -1): void {
    endSpan(this.#span, 'client', status, flags, error, grpcStatus);
  }
}

class RecordedServer implements ServerSpan {
  readonly recording = true;
  readonly spanContext: SpanContext;
  readonly context: Context;
  readonly #span: Span;
  constructor(span: Span, parent: Context) {
    this.#span = span;
    this.spanContext = span.spanContext();
    this.context = trace.setSpan(parent, span);
  }
  run<T>(fn: () => T): T {
    return contextApi.with(this.context, fn);
  }
  setAttribute(key: string, value: string | number | boolean): void {
    this.#span.setAttribute(key, value);
  }
  end(status: number, flags = '', error?: unknown, grpcStatus = -1): void {
    endSpan(this.#span, 'server', status, flags, error, grpcStatus);
  }
}

// ---- sampling -------------------------------------------------------------------

const SAMPLE: SamplingResult = Object.freeze({ decision: SamplingDecision.RECORD_AND_SAMPLED });
const DROP: SamplingResult = Object.freeze({ decision: SamplingDecision.NOT_RECORD });

/**
 * Parent-based ratio sampling, with one twist: a root span that enmesh's fast
 * path already decided to sample (context key set) is sampled without a second
 * roll of the dice.
 */
class MeshSampler implements Sampler {
  readonly #rate: number;
  readonly #random: () => number;
  constructor(rate: number, random: () => number) {
    this.#rate = rate;
    this.#random = random;
  }
  shouldSample(ctx: Context): SamplingResult {
    const parent = trace.getSpanContext(ctx);
    if (parent !== undefined && trace.isSpanContextValid(parent)) {
      return (parent.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? SAMPLE : DROP;
    }
    if (ctx.getValue(SAMPLED_KEY) === true) return SAMPLE;
    return this.#random() < this.#rate ? SAMPLE : DROP;
  }
  toString(): string {
    return `MeshSampler{parent-based, rate=${this.#rate}}`;
  }
}

// ---- the handle -------------------------------------------------------------------

export interface MeshTracingInit {
  readonly tracer: Tracer;
  readonly propagator: MeshPropagator;
  /** Set when enmesh owns the provider: sampling decisions can be taken without the SDK. */
  readonly own?: {
    readonly provider: BasicTracerProvider;
    readonly ids: PooledIdGenerator;
    readonly rate: number;
    readonly random: () => number;
    /** Globals this handle registered, to undo on close. */
    readonly registered: { readonly provider: boolean; readonly propagator: boolean; readonly context: boolean };
  };
  readonly memory?: InMemorySpanExporter;
  /** Joined an application's provider and installed the context manager it lacked (undone on close). */
  readonly registeredContext?: boolean;
}

export class MeshTracing {
  readonly propagator: MeshPropagator;
  /** The in-memory exporter, with exporter `memory`. */
  readonly memory: InMemorySpanExporter | undefined;
  readonly #tracer: Tracer;
  readonly #own: MeshTracingInit['own'];
  readonly #registeredContext: boolean;
  #closed: Promise<void> | undefined;

  constructor(init: MeshTracingInit) {
    this.#tracer = init.tracer;
    this.propagator = init.propagator;
    this.#own = init.own;
    this.#registeredContext = init.registeredContext === true;
    this.memory = init.memory;
  }

  /** True when enmesh started the provider; false when it joined the application's. */
  get ownsProvider(): boolean {
    return this.#own !== undefined;
  }

  /** Starts the span of an outbound mesh call, as a child of `parent` (default: the active context). */
  startCall(info: CallInfo, parent: Context = contextApi.active()): CallSpan {
    return this.#decide(parent) ?? this.recordCall(info, parent);
  }

  /**
   * The span of a call that enmesh alone decides is not recorded (most calls
   * when it owns the sampler); undefined when {@link recordCall} must start
   * one. Lets the caller skip building the call's details for the rest.
   */
  quietCall(parent: Context = contextApi.active()): CallSpan | undefined {
    return this.#decide(parent);
  }

  /** Starts the span of a call that {@link quietCall} did not settle. */
  recordCall(info: CallInfo, parent: Context = contextApi.active()): CallSpan {
    const name = info.protocol === 'grpc' && info.path !== undefined ? info.path : `${info.method} ${info.service}`;
    const attributes: Attributes = { 'enmesh.service': info.service, 'http.request.method': info.method };
    if (info.route !== undefined) attributes['enmesh.route'] = info.route;
    if (info.path !== undefined) attributes['url.path'] = info.path;
    if (info.protocol === 'grpc') attributes['rpc.system'] = 'grpc';
    const ctx = this.#markSampled(parent);
    const span = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, ctx);
    if (!span.isRecording()) {
      const sc = span.spanContext();
      return new QuietCall(sc.traceId, sc.spanId, sc.traceFlags, sc.traceState, this.propagator);
    }
    return new RecordedCall(span, parent, this.#tracer, name, this.propagator);
  }

  /** Starts the span of an inbound request from its headers (any of the propagation formats). */
  startServer(headers: Readonly<Record<string, string | string[] | undefined>>, info: ServerInfo): ServerSpan {
    const remote = this.propagator.readSpanContext(headers);
    const own = this.#own;
    if (own !== undefined) {
      // Decided without the SDK: inside an unsampled trace, or a new trace not drawn for sampling.
      if (remote !== undefined && (remote.traceFlags & TraceFlags.SAMPLED) === 0) return new QuietServer(remote);
      if (remote === undefined && !(own.random() < own.rate)) {
        return new QuietServer({ traceId: own.ids.sliceTraceId(), spanId: own.ids.sliceSpanId(), traceFlags: TraceFlags.NONE });
      }
    }
    const parent = remote === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, remote);
    const attributes: Attributes = { 'enmesh.service': info.service, 'http.request.method': info.method };
    if (info.path !== undefined) attributes['url.path'] = info.path;
    if (info.peerPrincipal !== undefined) attributes['enmesh.peer.principal'] = info.peerPrincipal;
    if (info.peerAddress !== undefined) attributes['client.address'] = info.peerAddress;
    const span = this.#tracer.startSpan(`${info.method} ${info.service}`, { kind: SpanKind.SERVER, attributes }, this.#markSampled(parent));
    if (!span.isRecording()) return new QuietServer(span.spanContext());
    return new RecordedServer(span, parent);
  }

  /** Exports what is buffered (no-op when joined to the application's provider). */
  async flush(): Promise<void> {
    await this.#own?.provider.forceFlush();
  }

  /** Flushes and stops the provider enmesh started, and unregisters what it registered. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const own = this.#own;
      if (this.#registeredContext) contextApi.disable();
      if (own === undefined) return;
      if (own.registered.provider) trace.disable();
      if (own.registered.propagator) propagation.disable();
      if (own.registered.context) contextApi.disable();
      await own.provider.shutdown();
    })();
    return this.#closed;
  }

  /**
   * The sampling decision enmesh can take alone, without the SDK: the call to
   * propagate when its span is not to be recorded, undefined when the SDK
   * must start a span. Only when enmesh owns the sampler.
   */
  #decide(parent: Context): QuietCall | undefined {
    const own = this.#own;
    if (own === undefined) return undefined;
    const p = trace.getSpanContext(parent);
    if (p !== undefined && trace.isSpanContextValid(p)) {
      if ((p.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED) return undefined;
      // Inside an unsampled trace: pass the context on as it is (nothing is
      // recorded, so no span needs an id of its own).
      return new QuietCall(p.traceId, p.spanId, p.traceFlags, p.traceState, this.propagator);
    }
    if (own.random() < own.rate) return undefined;
    return QuietCall.newRoot(own.ids.sliceTraceparent(), this.propagator);
  }

  /** A root that passed {@link #decide} is sampled: tell the sampler not to roll again. */
  #markSampled(parent: Context): Context {
    if (this.#own === undefined) return parent;
    const p = trace.getSpanContext(parent);
    return p !== undefined && trace.isSpanContextValid(p) ? parent : parent.setValue(SAMPLED_KEY, true);
  }
}

/** True when the application registered a tracer provider of its own. */
export function appHasTracerProvider(): boolean {
  const current = trace.getTracerProvider();
  if (!(current instanceof ProxyTracerProvider)) return true;
  // A fresh proxy's delegate is the API's no-op provider.
  return current.getDelegate() !== new ProxyTracerProvider().getDelegate();
}

/**
 * Starts tracing for the mesh. Joins the application's tracer provider when it
 * registered one (start your SDK before enmesh for that); otherwise starts one.
 */
export async function startTracing(options: TracingOptions): Promise<MeshTracing> {
  const rate = options.sampleRate ?? DEFAULT_SAMPLE_RATE;
  if (!(rate >= 0 && rate <= 1)) throw new EnmeshError('ENMESH_ERR_INIT', `tracing: sampleRate must be between 0 and 1, got ${String(options.sampleRate)}`);
  const propagator = new MeshPropagator(options.propagation);
  const register = options.register !== false;
  if (register && appHasTracerProvider()) return joined(propagator);

  const base = await import('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const exporter = await createExporter(options, base);
  const processor = options.exporter === 'memory' || options.exporter === 'console' ? new base.SimpleSpanProcessor(exporter) : new base.BatchSpanProcessor(exporter);
  const ids = new PooledIdGenerator();
  const random = Math.random;
  const provider = new base.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName ?? process.env.ENMESH_SERVICE ?? 'unknown_service:node' }),
    sampler: new MeshSampler(rate, random),
    idGenerator: ids,
    spanProcessors: [processor],
  });
  const registered = { provider: false, propagator: false, context: false };
  if (register) {
    registered.provider = trace.setGlobalTracerProvider(provider);
    if (!registered.provider) {
      // Someone registered between the check and now: theirs wins.
      await provider.shutdown();
      return joined(propagator);
    }
    registered.propagator = propagation.setGlobalPropagator(propagator);
  }
  // Spans need a context that follows async calls; keep the application's manager if it has one.
  if (!hasContextManager()) registered.context = contextApi.setGlobalContextManager(new AsyncLocalContextManager());
  return new MeshTracing({
    tracer: provider.getTracer(TRACER_NAME),
    propagator,
    own: { provider, ids, rate, random, registered },
    ...(options.exporter === 'memory' ? { memory: exporter as InMemorySpanExporter } : {}),
  });
}

/**
 * Tracing inside the application's provider. A provider set with
 * `trace.setGlobalTracerProvider` alone leaves no context manager, and
 * without one a handler's calls would not be children of its server span:
 * then enmesh installs one (and removes it on close).
 */
function joined(propagator: MeshPropagator): MeshTracing {
  const registeredContext = !hasContextManager() && contextApi.setGlobalContextManager(new AsyncLocalContextManager());
  return new MeshTracing({ tracer: trace.getTracer(TRACER_NAME), propagator, registeredContext });
}

/** Whether a global context manager is in place (the no-op one does not carry values). */
function hasContextManager(): boolean {
  const probe = createContextKey('enmesh.probe');
  return contextApi.with(ROOT_CONTEXT.setValue(probe, true), () => contextApi.active().getValue(probe) === true);
}

async function createExporter(options: TracingOptions, base: typeof import('@opentelemetry/sdk-trace-base')): Promise<SpanExporter> {
  switch (options.exporter) {
    case 'memory':
      return new base.InMemorySpanExporter();
    case 'console':
      return new base.ConsoleSpanExporter();
    case 'otlp': {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter({
        url: options.endpoint ?? 'http://127.0.0.1:4318/v1/traces',
        ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
      });
    }
    case 'zipkin': {
      const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin');
      return new ZipkinExporter({
        url: options.endpoint ?? 'http://127.0.0.1:9411/api/v2/spans',
        ...(options.serviceName === undefined ? {} : { serviceName: options.serviceName }),
      });
    }
    default:
      throw new EnmeshError('ENMESH_ERR_INIT', `tracing: unknown exporter "${String(options.exporter)}"; use otlp, zipkin, console or memory`);
  }
}
