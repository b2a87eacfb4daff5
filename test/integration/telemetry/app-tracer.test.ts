/**
 * An application that registered its own OpenTelemetry tracer provider before
 * init(): the mesh joins it. Mesh spans go through the application's
 * processor and exporter (the mesh's exporter options are unused), continue
 * the application's active span, and a hooked server's span continues the
 * caller's attempt, also when the application set no context manager. B3,
 * single and multi header, is written on outbound calls beside W3C, and read
 * on inbound requests that carry only B3.
 */
import { SpanKind, trace, context } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { appHasTracerProvider } from '../../../src/telemetry/tracing.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let backend: Backend;
let file: MeshFile;
let mesh: Mesh;
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(async () => {
  backend = await startBackend('reviews-v1');
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${backend.address} }]
`);
  // The application's provider, registered first (no context manager: the mesh brings one).
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  mesh = await init({ service: { name: 'productpage' }, config: file.path, tracing: { exporter: 'otlp', endpoint: 'http://127.0.0.1:1/unused', sampleRate: 0, propagation: ['tracecontext', 'b3', 'b3multi'] } });
});

afterAll(async () => {
  await mesh?.close();
  trace.disable();
  context.disable();
  await provider.shutdown();
  await backend?.close();
  await file?.remove();
});

const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

it("joins the application's provider: mesh spans continue the app's span and reach its exporter; B3 written beside W3C", async () => {
  expect(mesh.telemetry()?.tracing?.ownsProvider).toBe(false);
  const app = trace.getTracer('app').startSpan('handle /product');
  await context.with(trace.setSpan(context.active(), app), async () => {
    const res = await fetch('http://reviews:9080/reviews/1');
    expect(res.status).toBe(200);
    await res.text();
  });
  app.end();
  const traceId = app.spanContext().traceId;

  // What the callee received: every format configured, naming the attempt span.
  const h = backend.seen.at(-1)!.headers;
  const spans = exporter.getFinishedSpans();
  const call = spans.find((s) => s.kind === SpanKind.INTERNAL && s.name === 'GET reviews')!;
  const attempt = spans.find((s) => s.kind === SpanKind.CLIENT)!;
  expect(call.spanContext().traceId).toBe(traceId);
  expect(parentOf(call)).toBe(app.spanContext().spanId);
  expect(parentOf(attempt)).toBe(call.spanContext().spanId);
  const attemptId = attempt.spanContext().spanId;
  // The application's sampler (always on) decides, not the mesh's sampleRate 0.
  expect(h.traceparent).toBe(`00-${traceId}-${attemptId}-01`);
  expect(h.b3).toBe(`${traceId}-${attemptId}-1`);
  expect(h['x-b3-traceid']).toBe(traceId);
  expect(h['x-b3-spanid']).toBe(attemptId);
  expect(h['x-b3-sampled']).toBe('1');
  // The callee (hooked, in this process) continued the attempt.
  const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
  expect(server.spanContext().traceId).toBe(traceId);
  expect(parentOf(server)).toBe(attemptId);
  expect(spans.map((s) => s.name)).toContain('handle /product');
});

it('continues a B3-only caller, single and multi header', async () => {
  exporter.reset();
  const b3Trace = '463ac35c9f6413ad48485a3953bb6124';
  await (await fetch(`http://${backend.address}/multi`, { headers: { 'x-b3-traceid': b3Trace, 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' } })).text();
  await (await fetch(`http://${backend.address}/single`, { headers: { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' } })).text();
  const servers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
  expect(servers.map((s) => [s.attributes['url.path'], s.spanContext().traceId, parentOf(s)])).toEqual([
    ['/multi', b3Trace, 'a2fb4a1d1a96d312'],
    ['/single', '80f198ee56343ba864fe8b2a57d3eff7', 'e457b5a2e4d86bd1'],
  ]);
});

it("leaves the application's provider in place on close", async () => {
  await mesh.close();
  expect(appHasTracerProvider()).toBe(true);
  expect(trace.getTracerProvider()).not.toBeUndefined();
});
