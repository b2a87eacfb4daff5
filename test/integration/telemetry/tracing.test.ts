/**
 * Traces across real hops: productpage → reviews → ratings, three local HTTP
 * servers each traced through enmesh's tracing API with its own service
 * name, exporting over OTLP/HTTP (protobuf) to a receiver in the test. The
 * receiver must see one trace, with each server span the child of the
 * caller's attempt span. A second test exports to a Zipkin-format receiver.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startTracing } from '../../../src/telemetry/tracing.ts';
import type { MeshTracing } from '../../../src/telemetry/tracing.ts';
import type { HeaderRecord } from '../../../src/runtime/headers.ts';
import { startOtlpReceiver } from './otlp-receiver.ts';

const servers: Server[] = [];
const tracings: MeshTracing[] = [];

afterAll(async () => {
  for (const t of tracings) await t.close();
  for (const s of servers) s.close();
});

interface Hop {
  readonly name: string;
  readonly port: number;
}

/**
 * A service that, traced as `name`, calls `next` (if any) through the tracing
 * API the way the mesh does: a call span, one attempt, headers injected.
 */
async function startHop(name: string, tracing: MeshTracing, next: Hop | undefined): Promise<Hop> {
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    const span = tracing.startServer(req.headers, { service: name, method: req.method ?? 'GET', path: req.url ?? '/', peerAddress: req.socket.remoteAddress });
    void span.run(async () => {
      let status = 200;
      if (next !== undefined) {
        const call = tracing.startCall({ service: next.name, method: 'GET', path: '/', route: 'default' });
        const attempt = call.startAttempt({ attempt: 1, cluster: `outbound|9080||${next.name}`, endpoint: `127.0.0.1:${next.port}` });
        const headers: HeaderRecord = {};
        attempt.inject(headers);
        const r = await fetch(`http://127.0.0.1:${next.port}/`, { headers: headers as Record<string, string> });
        await r.text();
        status = r.status;
        attempt.end(r.status);
        call.end(r.status);
      }
      res.writeHead(status).end(name);
      span.end(status);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { name, port: (server.address() as { port: number }).port };
}

describe('tracing across three hops', () => {
  it('exports one trace over OTLP/HTTP, each server span a child of its caller’s attempt', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const t = async (serviceName: string): Promise<MeshTracing> => {
        const tr = await startTracing({ exporter: 'otlp', endpoint: receiver.url, serviceName, register: false, sampleRate: 1 });
        tracings.push(tr);
        return tr;
      };
      const ratings = await startHop('ratings', await t('ratings'), undefined);
      const reviews = await startHop('reviews', await t('reviews'), ratings);
      const productpage = await startHop('productpage', await t('productpage'), reviews);

      const res = await fetch(`http://127.0.0.1:${productpage.port}/productpage`);
      expect(res.status).toBe(200);
      await res.text();
      for (const tr of tracings) await tr.flush();

      const spans = receiver.spans;
      expect(receiver.rejected).toBe(0);
      expect(spans).toHaveLength(7); // 3 server spans, 2 call spans, 2 attempt spans
      expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
      expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['productpage', 'reviews', 'ratings']));
      expect(new Set(spans.map((s) => s.scope))).toEqual(new Set(['enmesh']));

      const server = (svc: string) => spans.find((s) => s.service === svc && s.kind === 2)!;
      const attempt = (svc: string) => spans.find((s) => s.service === svc && s.kind === 3)!;
      const call = (svc: string) => spans.find((s) => s.service === svc && s.kind === 1)!;
      expect(server('productpage').parentSpanId).toBe('');
      expect(call('productpage').parentSpanId).toBe(server('productpage').spanId);
      expect(attempt('productpage').parentSpanId).toBe(call('productpage').spanId);
      expect(server('reviews').parentSpanId).toBe(attempt('productpage').spanId);
      expect(call('reviews').parentSpanId).toBe(server('reviews').spanId);
      expect(server('ratings').parentSpanId).toBe(attempt('reviews').spanId);
      expect(attempt('reviews').attributes).toMatchObject({ 'enmesh.attempt': 1, 'enmesh.cluster': 'outbound|9080||ratings', 'http.response.status_code': 200 });
      expect(call('productpage').attributes).toMatchObject({ 'enmesh.route': 'default', 'enmesh.service': 'reviews' });
    } finally {
      await receiver.close();
    }
  });

  it('exports to a Zipkin v2 endpoint, continuing a B3 trace from the caller', async () => {
    const received: { traceId: string; id: string; parentId?: string; name: string; kind?: string; localEndpoint?: { serviceName?: string } }[] = [];
    const zipkin = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.url === '/api/v2/spans') received.push(...(JSON.parse(body) as typeof received));
        res.writeHead(202).end();
      });
    });
    servers.push(zipkin);
    await new Promise<void>((r) => zipkin.listen(0, '127.0.0.1', () => r()));
    const tr = await startTracing({
      exporter: 'zipkin',
      endpoint: `http://127.0.0.1:${(zipkin.address() as { port: number }).port}/api/v2/spans`,
      serviceName: 'details',
      register: false,
      sampleRate: 1,
    });
    tracings.push(tr);
    const details = await startHop('details', tr, undefined);
    const traceId = '463ac35c9f6413ad48485a3953bb6124';
    const res = await fetch(`http://127.0.0.1:${details.port}/details/1`, { headers: { b3: `${traceId}-a2fb4a1d1a96d312-1` } });
    await res.text();
    await tr.flush();
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ traceId, parentId: 'a2fb4a1d1a96d312', kind: 'SERVER', localEndpoint: { serviceName: 'details' } });
  });
});
