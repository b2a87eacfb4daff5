import { afterEach, describe, expect, it } from 'vitest';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { appHasTracerProvider, startTracing } from './tracing.ts';
import type { MeshTracing } from './tracing.ts';
import { PooledIdGenerator } from './id-generator.ts';
import { MeshPropagator } from './propagation.ts';
import type { HeaderRecord } from '../runtime/headers.ts';

const open: MeshTracing[] = [];
async function tracing(options: Partial<Parameters<typeof startTracing>[0]> = {}): Promise<MeshTracing> {
  const t = await startTracing({ exporter: 'memory', serviceName: 'productpage', register: false, sampleRate: 1, ...options });
  open.push(t);
  return t;
}

afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

const byName = (spans: readonly ReadableSpan[], kind: SpanKind): ReadableSpan[] => spans.filter((s) => s.kind === kind);

describe('call and attempt spans', () => {
  it('makes each attempt a CLIENT child of the call span and injects the attempt into every header format', async () => {
    const t = await tracing({ propagation: ['tracecontext', 'b3', 'b3multi'] });
    const call = t.startCall({ service: 'reviews', method: 'GET', path: '/reviews/1', route: 'default' });
    expect(call.recording).toBe(true);
    const first = call.startAttempt({ attempt: 1, cluster: 'outbound|9080|v1|reviews', endpoint: '127.0.0.1:9081' });
    const h1: HeaderRecord = { 'x-b3-parentspanid': 'stale' };
    first.inject(h1);
    first.end(503, 'URX');
    const second = call.startAttempt({ attempt: 2, cluster: 'outbound|9080|v1|reviews', endpoint: '127.0.0.1:9082', breakerState: 'closed' });
    const h2: HeaderRecord = {};
    second.inject(h2);
    second.end(200);
    call.setFault('delay');
    call.end(200);

    const spans = t.memory!.getFinishedSpans();
    expect(spans).toHaveLength(3);
    const [callSpan] = byName(spans, SpanKind.INTERNAL);
    const attempts = byName(spans, SpanKind.CLIENT);
    expect(attempts).toHaveLength(2);
    for (const a of attempts) {
      expect(a.spanContext().traceId).toBe(callSpan!.spanContext().traceId);
      expect(a.parentSpanContext?.spanId).toBe(callSpan!.spanContext().spanId);
    }
    expect(callSpan!.name).toBe('GET reviews');
    expect(callSpan!.attributes).toMatchObject({ 'enmesh.route': 'default', 'enmesh.service': 'reviews', 'enmesh.fault': 'delay', 'http.response.status_code': 200 });
    const [a1, a2] = attempts.sort((x, y) => Number(x.attributes['enmesh.attempt']) - Number(y.attributes['enmesh.attempt']));
    expect(a1!.attributes).toMatchObject({ 'enmesh.attempt': 1, 'enmesh.endpoint': '127.0.0.1:9081', 'server.port': 9081, 'enmesh.response_flags': 'URX' });
    expect(a1!.status.code).toBe(SpanStatusCode.ERROR);
    expect(a2!.attributes).toMatchObject({ 'enmesh.attempt': 2, 'enmesh.breaker.state': 'closed' });
    expect(a2!.status.code).toBe(SpanStatusCode.UNSET);

    const { traceId, spanId } = a1!.spanContext();
    expect(h1).toEqual({ traceparent: `00-${traceId}-${spanId}-01`, b3: `${traceId}-${spanId}-1`, 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': '1' });
    expect(h2.traceparent).toBe(`00-${traceId}-${a2!.spanContext().spanId}-01`);
  });

  it('records a failed call with the error as the span status', async () => {
    const t = await tracing();
    const call = t.startCall({ service: 'ratings', method: 'POST', path: '/ratings.Ratings/Get', protocol: 'grpc' });
    call.end(0, 'UF', new Error('connect ECONNREFUSED'), 14);
    const [span] = t.memory!.getFinishedSpans();
    expect(span!.name).toBe('/ratings.Ratings/Get');
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'connect ECONNREFUSED' });
    expect(span!.attributes).toMatchObject({ 'rpc.grpc.status_code': 14, 'enmesh.response_flags': 'UF', 'rpc.system': 'grpc' });
  });
});

const parentTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
const parentSpan = '00f067aa0ba902b7';

describe('server spans and propagation', () => {
  it.each([
    ['W3C traceparent', { traceparent: `00-${parentTrace}-${parentSpan}-01` }],
    ['B3 single header', { b3: `${parentTrace}-${parentSpan}-1` }],
    ['B3 multi header', { 'x-b3-traceid': parentTrace, 'x-b3-spanid': parentSpan, 'x-b3-sampled': '1' }],
  ])('continues a trace from %s and records the peer identity', async (_name, headers) => {
    const t = await tracing();
    const server = t.startServer(headers, { service: 'reviews', method: 'GET', path: '/reviews/1', peerPrincipal: 'spiffe://demo.local/service/productpage' });
    server.end(200);
    const [span] = t.memory!.getFinishedSpans();
    expect(span!.kind).toBe(SpanKind.SERVER);
    expect(span!.spanContext().traceId).toBe(parentTrace);
    expect(span!.parentSpanContext?.spanId).toBe(parentSpan);
    expect(span!.attributes['enmesh.peer.principal']).toBe('spiffe://demo.local/service/productpage');
  });

  it('prefers W3C when a request carries both W3C and B3', () => {
    const p = new MeshPropagator();
    const other = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const ctx = p.read(ROOT_CONTEXT, { traceparent: `00-${parentTrace}-${parentSpan}-01`, b3: `${other}-${parentSpan}-1` });
    expect(trace.getSpanContext(ctx)?.traceId).toBe(parentTrace);
  });

  it('keeps tracestate, and falls back to B3 when traceparent is malformed', () => {
    const p = new MeshPropagator();
    const withState = p.read(ROOT_CONTEXT, { traceparent: `00-${parentTrace}-${parentSpan}-01`, tracestate: 'vendor=abc,other=1' });
    const sc = trace.getSpanContext(withState)!;
    expect(sc).toMatchObject({ traceId: parentTrace, spanId: parentSpan, traceFlags: 1, isRemote: true });
    const h: HeaderRecord = {};
    p.write(h, sc);
    expect(h.tracestate).toBe('vendor=abc,other=1');
    const other = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const fallback = p.read(ROOT_CONTEXT, { traceparent: `00-${'0'.repeat(32)}-${parentSpan}-01`, 'x-b3-traceid': other, 'x-b3-spanid': parentSpan, 'x-b3-sampled': '0' });
    expect(trace.getSpanContext(fallback)).toMatchObject({ traceId: other, traceFlags: 0 });
    expect(trace.getSpanContext(p.read(ROOT_CONTEXT, { traceparent: 'garbage' }))).toBeUndefined();
  });

  it('writes only the configured formats', () => {
    const p = new MeshPropagator(['b3']);
    const h: HeaderRecord = {};
    p.write(h, { traceId: parentTrace, spanId: parentSpan, traceFlags: 0 });
    expect(h).toEqual({ b3: `${parentTrace}-${parentSpan}-0` });
    const multi: HeaderRecord = { 'x-b3-parentspanid': 'from-the-app' };
    new MeshPropagator(['b3multi']).write(multi, { traceId: parentTrace, spanId: parentSpan, traceFlags: 1 });
    expect(multi).toEqual({ 'x-b3-traceid': parentTrace, 'x-b3-spanid': parentSpan, 'x-b3-sampled': '1' });
    const byDefault: HeaderRecord = {};
    new MeshPropagator().write(byDefault, { traceId: parentTrace, spanId: parentSpan, traceFlags: 1 });
    expect(byDefault).toEqual({ traceparent: `00-${parentTrace}-${parentSpan}-01` });
  });

  it('reads every format whatever it writes', () => {
    const w3cOnly = new MeshPropagator(['tracecontext']);
    expect(w3cOnly.readSpanContext({ 'x-b3-traceid': parentTrace, 'x-b3-spanid': parentSpan, 'x-b3-sampled': '1' })).toMatchObject({ traceId: parentTrace, spanId: parentSpan, traceFlags: 1 });
    expect(w3cOnly.readSpanContext({ b3: `${parentTrace}-${parentSpan}-0` })).toMatchObject({ traceId: parentTrace, traceFlags: 0 });
    expect(new MeshPropagator(['b3']).readSpanContext({ traceparent: `00-${parentTrace}-${parentSpan}-01` })).toMatchObject({ traceId: parentTrace, spanId: parentSpan });
  });

  it('makes calls inside a server span its children through the active context', async () => {
    const t = await tracing();
    const server = t.startServer({}, { service: 'productpage', method: 'GET' });
    await server.run(async () => {
      await new Promise((r) => setTimeout(r, 1));
      t.startCall({ service: 'reviews', method: 'GET' }).end(200);
    });
    server.end(200);
    const spans = t.memory!.getFinishedSpans();
    const call = spans.find((s) => s.kind === SpanKind.INTERNAL)!;
    const srv = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(call.parentSpanContext?.spanId).toBe(srv.spanContext().spanId);
    expect(call.spanContext().traceId).toBe(srv.spanContext().traceId);
  });
});

describe('sampling', () => {
  it('records nothing at rate 0 but still propagates one unsampled trace id', async () => {
    const t = await tracing({ sampleRate: 0 });
    const server = t.startServer({}, { service: 'productpage', method: 'GET' });
    expect(server.recording).toBe(false);
    const h: HeaderRecord = {};
    server.run(() => {
      const call = t.startCall({ service: 'reviews', method: 'GET' });
      expect(call.recording).toBe(false);
      call.startAttempt({ attempt: 1, cluster: 'c', endpoint: '127.0.0.1:1' }).inject(h);
      call.end(200);
    });
    server.end(200);
    expect(t.memory!.getFinishedSpans()).toEqual([]);
    expect(h.traceparent).toBe(`00-${server.spanContext.traceId}-${server.spanContext.spanId}-00`);
    expect(h.b3).toBeUndefined();
  });

  it('gives an unsampled new root a fresh pooled traceparent whose ids are its span context', async () => {
    const t = await tracing({ sampleRate: 0, propagation: ['tracecontext', 'b3'] });
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const call = t.startCall({ service: 'reviews', method: 'GET' });
      const h: HeaderRecord = { tracestate: 'stale=1' };
      call.startAttempt({ attempt: 1, cluster: 'c', endpoint: '127.0.0.1:1' }).inject(h);
      const sc = call.spanContext;
      expect(h.traceparent).toBe(`00-${sc.traceId}-${sc.spanId}-00`);
      expect(h.b3).toBe(`${sc.traceId}-${sc.spanId}-0`);
      expect(h.tracestate).toBeUndefined();
      expect(trace.isSpanContextValid(sc)).toBe(true);
      seen.add(sc.traceId);
      call.end(200);
    }
    expect(seen.size).toBe(400);
    expect(t.memory!.getFinishedSpans()).toEqual([]);
  });

  it('follows an unsampled caller even at rate 1', async () => {
    const t = await tracing({ sampleRate: 1 });
    const server = t.startServer({ traceparent: `00-${parentTrace}-${parentSpan}-00` }, { service: 'reviews', method: 'GET' });
    expect(server.recording).toBe(false);
    expect(server.spanContext.traceId).toBe(parentTrace);
    server.end(200);
    expect(t.memory!.getFinishedSpans()).toEqual([]);
  });

  it('samples about the configured share of new traces', async () => {
    const t = await tracing({ sampleRate: 0.25 });
    let recorded = 0;
    for (let i = 0; i < 2000; i++) {
      const c = t.startCall({ service: 'reviews', method: 'GET' }, ROOT_CONTEXT);
      if (c.recording) recorded++;
      c.end(200);
    }
    expect(recorded).toBeGreaterThan(400);
    expect(recorded).toBeLessThan(600);
    expect(t.memory!.getFinishedSpans()).toHaveLength(recorded);
  });

  it('rejects a rate outside 0..1', async () => {
    await expect(startTracing({ exporter: 'memory', sampleRate: 2 })).rejects.toMatchObject({ code: 'ENMESH_ERR_INIT' });
  });
});

describe('provider ownership', () => {
  it('registers itself globally when the app has no provider, and undoes it on close', async () => {
    expect(appHasTracerProvider()).toBe(false);
    const t = await startTracing({ exporter: 'memory', serviceName: 'productpage', sampleRate: 1 });
    expect(t.ownsProvider).toBe(true);
    expect(appHasTracerProvider()).toBe(true);
    // The app's own spans go through the mesh's provider, with the mesh's propagation formats.
    const span = trace.getTracer('app').startSpan('work');
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), carrier);
    expect(Object.keys(carrier).sort()).toEqual(['traceparent']);
    span.end();
    expect(t.memory!.getFinishedSpans().map((s) => s.name)).toEqual(['work']);
    await t.close();
    expect(appHasTracerProvider()).toBe(false);
  });

  it("joins the application's provider when it registered one first", async () => {
    const exporter = new InMemorySpanExporter();
    const appProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    expect(trace.setGlobalTracerProvider(appProvider)).toBe(true);
    try {
      const t = await startTracing({ exporter: 'memory', serviceName: 'productpage' });
      expect(t.ownsProvider).toBe(false);
      expect(t.memory).toBeUndefined();
      t.startCall({ service: 'reviews', method: 'GET' }, ROOT_CONTEXT).end(200);
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['GET reviews']);
      await t.close();
    } finally {
      trace.disable();
      await appProvider.shutdown();
    }
  });
});

describe('PooledIdGenerator', () => {
  it('hands out valid, distinct ids across pool refills', () => {
    const ids = new PooledIdGenerator(64);
    const spans = new Set<string>();
    const traces = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      spans.add(ids.generateSpanId());
      traces.add(ids.generateTraceId());
    }
    expect(spans.size).toBe(1000);
    expect(traces.size).toBe(1000);
    for (const s of spans) expect(s).toMatch(/^[0-9a-f]{16}$/);
    for (const t of traces) expect(t).toMatch(/^[0-9a-f]{32}$/);
  });

  it('cuts whole unsampled traceparents from a pool, distinct across refills', () => {
    const ids = new PooledIdGenerator(64);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const tp = ids.sliceTraceparent();
      expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      expect(tp.slice(3, 35)).not.toBe('0'.repeat(32));
      seen.add(tp.slice(3, 35));
      seen.add(tp.slice(36, 52));
    }
    expect(seen.size).toBe(2000);
  });

  it('cuts ids from the pool text without repeating the copied ones', () => {
    const ids = new PooledIdGenerator(64);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = i % 2 === 0 ? ids.sliceTraceId() : ids.generateTraceId();
      const s = i % 2 === 0 ? ids.sliceSpanId() : ids.generateSpanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      seen.add(t);
      seen.add(s);
    }
    expect(seen.size).toBe(2000);
  });
});
