import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMeshMetrics, metricsHandler, startTelemetry } from './index.ts';

describe('startTelemetry', () => {
  it('names this process from its identity and serves metrics, traces and access logs until closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'enmesh-telemetry-'));
    try {
      const t = await startTelemetry(
        { service: 'reviews', labels: { version: 'v2' }, principal: 'spiffe://demo.local/service/reviews', trustDomain: 'demo.local' },
        { metrics: { port: 0 }, tracing: { exporter: 'memory', register: false, sampleRate: 1 }, accessLog: { destination: join(dir, 'access.log') } },
      );
      t.metrics.inbound({ workload: 'productpage-v1' }, 'http', 'mutual_tls').record(200, 3, 10, 20);
      const res = await fetch(t.metricsServer!.url);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(text).toMatch(/istio_requests_total\{reporter="destination",source_workload="productpage-v1",[^}]*destination_principal="spiffe:\/\/demo.local\/service\/reviews"[^}]*destination_version="v2",destination_service="reviews"/);
      expect(text).toContain('destination_workload="reviews-v2"');
      expect((await fetch(`http://127.0.0.1:${t.metricsServer!.port}/stats/prometheus`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${t.metricsServer!.port}/other`)).status).toBe(404);

      t.tracing!.startServer({}, { service: 'reviews', method: 'GET' }).end(200);
      expect(t.tracing!.memory!.getFinishedSpans()[0]!.resource.attributes['service.name']).toBe('reviews');
      t.accessLog!.write({ direction: 'inbound', startTime: 0, method: 'GET', authority: 'reviews', path: '/', protocol: 'HTTP/1.1', status: 200, flags: '', durationMs: 1, bytesReceived: 0, bytesSent: 2 });

      await t.close();
      await expect(fetch(t.metricsServer!.url)).rejects.toThrow();
      expect(await readFile(join(dir, 'access.log'), 'utf8')).toContain('"direction":"inbound"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts metrics without serving them, and starts no tracing or access log, by default', async () => {
    const t = await startTelemetry({ service: 'details' });
    expect(t.metricsServer).toBeUndefined();
    expect(t.tracing).toBeUndefined();
    expect(t.accessLog).toBeUndefined();
    await t.close();
  });
});

describe('metricsHandler', () => {
  it('serves the registry from a server the application already runs', async () => {
    const m = createMeshMetrics({ self: { service: 'productpage' } });
    m.outbound({ service: 'reviews' }, 'http').record(204, 1, 0, 0);
    const handle = metricsHandler(m.registry);
    const server = createServer((req, res) => (req.url === '/metrics' ? handle(req, res) : res.writeHead(404).end()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const text = await (await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`)).text();
      expect(text).toMatch(/istio_requests_total\{[^}]*response_code="204"[^}]*\} 1/);
    } finally {
      server.close();
    }
  });
});
