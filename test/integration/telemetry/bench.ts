/**
 * Micro-benchmark of the telemetry hot paths (not a test; run by hand):
 *
 *   node --conditions=enmesh-source test/integration/telemetry/bench.ts
 *
 * Prints nanoseconds per operation (median of 7 rounds) and, last, one JSON line.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { createMeshMetrics, ISTIO_BUCKETS, ISTIO_LABELS } from '../../../src/telemetry/metrics.ts';
import { startTracing } from '../../../src/telemetry/tracing.ts';
import { LoadStore } from '../../../src/telemetry/load-stats.ts';
import { AccessLog } from '../../../src/telemetry/access-log.ts';
import type { EndpointModel } from '../../../src/model/types.ts';
import type { HeaderRecord } from '../../../src/runtime/headers.ts';

const ROUNDS = 7;

function bench(name: string, n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 50_000); i++) fn(i); // warm-up
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    results.push(Number(process.hrtime.bigint() - t0) / n);
  }
  results.sort((a, b) => a - b);
  const median = results[ROUNDS >> 1]!;
  process.stdout.write(`${name.padEnd(62)} ${median.toFixed(0).padStart(6)} ns/op\n`);
  return median;
}

const out: Record<string, number> = {};

// ---- metrics -------------------------------------------------------------
const metrics = createMeshMetrics({ self: { workload: 'productpage-v1', app: 'productpage', version: 'v1', service: 'productpage' } });
const ep: EndpointModel = Object.freeze({ host: '127.0.0.1', port: 9081, labels: { version: 'v1' }, weight: 1, zone: '', healthy: true, origin: 'static' });
const peer = metrics.outboundToEndpoint('reviews', ep, 'http', 'none');
const codes = [200, 200, 200, 200, 200, 200, 200, 404, 503, 200];
out.metrics_record_ns = bench('istio metrics: peer.record (4 metrics)', 1_000_000, (i) => peer.record(codes[i % 10]!, (i % 97) * 0.7, 0, 512));
out.metrics_lookup_record_ns = bench('istio metrics: outboundToEndpoint + record', 1_000_000, (i) =>
  metrics.outboundToEndpoint('reviews', ep, 'http', 'none').record(codes[i % 10]!, (i % 97) * 0.7, 0, 512),
);
out.metrics_flags_ns = bench('istio metrics: record with response flags', 1_000_000, (i) => peer.record(503, i % 50, 0, 19, i % 2 === 0 ? 'UH' : 'UF,URX'));

const reg = new Registry();
const labelNames = [...ISTIO_LABELS];
const c = new Counter({ name: 'c_total', help: 'h', labelNames, registers: [reg] });
const hs = ['a', 'b', 'c'].map((n) => new Histogram({ name: `h_${n}`, help: 'h', labelNames, buckets: [...ISTIO_BUCKETS], registers: [reg] }));
const values = labelNames.map((l) => `${l}-value`);
const cc = c.labels(...values);
const hc = hs.map((h) => h.labels(...values));
out.prom_client_children_ns = bench('for comparison: prom-client bound children (same 4 metrics)', 100_000, (i) => {
  cc.inc();
  hc[0]!.observe(i % 97);
  hc[1]!.observe(0);
  hc[2]!.observe(512);
});

// ---- tracing ---------------------------------------------------------------
const unsampled = await startTracing({ exporter: 'memory', sampleRate: 0, register: false });
const h: HeaderRecord = {};
out.trace_unsampled_root_ns = bench('tracing, unsampled new trace: call + attempt + inject + end', 1_000_000, () => {
  const call = unsampled.startCall({ service: 'reviews', method: 'GET' }, ROOT_CONTEXT);
  const a = call.startAttempt({ attempt: 1, cluster: 'outbound|9080||reviews', endpoint: '127.0.0.1:9081' });
  a.inject(h);
  a.end(200);
  call.end(200);
});
const inbound = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' };
out.trace_unsampled_server_ns = bench('tracing, unsampled inbound (traceparent 00): server span', 300_000, () => {
  unsampled.startServer(inbound, { service: 'reviews', method: 'GET' }).end(200);
});
const sampled = await startTracing({ exporter: 'memory', sampleRate: 1, register: false });
out.trace_sampled_call_ns = bench('tracing, sampled: call + attempt + inject + end (memory export)', 50_000, (i) => {
  const call = sampled.startCall({ service: 'reviews', method: 'GET', route: 'default' }, ROOT_CONTEXT);
  const a = call.startAttempt({ attempt: 1, cluster: 'outbound|9080||reviews', endpoint: '127.0.0.1:9081' });
  a.inject(h);
  a.end(200);
  call.end(200);
  if (i % 1000 === 0) sampled.memory!.reset();
});
await unsampled.close();
await sampled.close();

// ---- load reporting and access log ---------------------------------------------
const load = new LoadStore().locality('outbound|9080||reviews', { zone: 'z' });
out.load_ns = bench('load reporting: locality.start + end', 1_000_000, (i) => {
  load.start();
  load.end(i % 10 !== 8, (i % 97) * 0.7);
});
const log = new AccessLog({ destination: '/dev/null', filter: 'errors' });
out.access_log_skip_ns = bench('access log, filtered out: wants()', 1_000_000, (i) => {
  if (log.wants(codes[i % 10]! === 503 ? 200 : 200, '')) throw new Error('unexpected');
});
out.access_log_write_ns = bench('access log, written: wants() + write()', 100_000, (i) => {
  if (log.wants(503, 'UH'))
    log.write({ direction: 'outbound', startTime: Date.now(), method: 'GET', authority: 'reviews:9080', path: `/r/${i}`, protocol: 'HTTP/1.1', status: 503, flags: 'UH', durationMs: 1.2, bytesReceived: 0, bytesSent: 19, attempts: 1 });
});
await log.close();

process.stdout.write(`${JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v)])))}\n`);
