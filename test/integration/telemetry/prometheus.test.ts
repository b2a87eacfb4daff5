/**
 * The metrics as a real Prometheus sees them: a Prometheus server (the
 * Debian `prometheus` package's binary, run with a generated config) scrapes
 * enmesh's metrics endpoint every second while real HTTP traffic to two local
 * services is recorded through the metrics API; the test then asks
 * Prometheus' HTTP API the questions Istio dashboards ask.
 *
 * Without the binary the test is skipped with a reason, unless CI is set.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshMetrics, startMetricsServer } from '../../../src/telemetry/metrics.ts';
import type { MeshMetrics, MetricsServer } from '../../../src/telemetry/metrics.ts';

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const available = existsSync(PROMETHEUS);
if (!available) {
  const reason = `prometheus binary not found at ${PROMETHEUS} (install the Debian package "prometheus" or set PROMETHEUS_BIN)`;
  if (process.env.CI) throw new Error(reason);
  console.warn(`skipping the Prometheus integration test: ${reason}`);
}

interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

let dir: string;
let metrics: MeshMetrics;
let metricsServer: MetricsServer;
let prometheus: ChildProcess | undefined;
let promPort: number;
let promLog = '';
const services: Server[] = [];

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A local service answering `status` with a small body. */
async function service(answer: () => number): Promise<number> {
  const server = createServer((req, res) => {
    req.resume();
    const status = answer();
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status < 400 ? 'ok '.repeat(20) : 'unavailable');
  });
  services.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as { port: number }).port;
}

async function query(promql: string): Promise<PromSeries[]> {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data?: { result: PromSeries[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
  return body.data!.result;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} within ${timeoutMs} ms (last error: ${String(lastError)}); prometheus log: ${promLog.slice(-2000)}`);
}

beforeAll(async () => {
  if (!available) return;
  dir = await mkdtemp(join(tmpdir(), 'enmesh-prometheus-'));
  metrics = createMeshMetrics({ self: { workload: 'productpage-v1', app: 'productpage', version: 'v1', service: 'productpage' } });
  metricsServer = await startMetricsServer({ registry: metrics.registry, port: 0 });
  promPort = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: enmesh',
      '    scrape_interval: 1s',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${metricsServer.port}']`,
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr!.setEncoding('utf8').on('data', (d: string) => {
    promLog = (promLog + d).slice(-10_000);
  });
  await waitFor(async () => ((await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok ? true : undefined), 30_000, 'prometheus not ready');
});

afterAll(async () => {
  if (prometheus !== undefined && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    prometheus.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
  }
  await metricsServer?.close();
  for (const s of services) s.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('Istio metrics scraped by Prometheus', () => {
  it('answers rate(istio_requests_total) by destination_service and response_code with the traffic sent', async () => {
    const reviewsPort = await service(() => 200);
    let n = 0;
    const ratingsPort = await service(() => (n++ % 4 === 3 ? 503 : 200));
    const targets = [
      { service: 'reviews', version: 'v1', port: reviewsPort },
      { service: 'ratings', version: 'v2', port: ratingsPort },
    ];
    // Traffic starts once Prometheus scrapes the target, so the traffic spans several scrapes.
    await waitFor(async () => ((await query('up{job="enmesh"} == 1')).length === 1 ? true : undefined), 30_000, 'target never scraped');
    const peers = targets.map((t) => metrics.outbound({ service: t.service, workload: `${t.service}-${t.version}`, version: t.version }, 'http', 'none'));

    // Real requests, each recorded as the mesh records it, spread over a few
    // scrapes (rate() needs two samples): bounded in count and time.
    const sent = new Map<string, number>();
    const started = Date.now();
    for (let i = 0; i < 2000 && Date.now() - started < 3500; i++) {
      const k = i % 2;
      const t = targets[k]!;
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${t.port}/item/${i}`);
      const body = await res.arrayBuffer();
      peers[k]!.record(res.status, performance.now() - t0, 0, body.byteLength);
      const key = `${t.service}/${res.status}`;
      sent.set(key, (sent.get(key) ?? 0) + 1);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 15));
    }
    expect([...sent.keys()].sort()).toEqual(['ratings/200', 'ratings/503', 'reviews/200']);

    // Prometheus holds exactly what was recorded once it scraped after the traffic ended.
    const totals = await waitFor(
      async () => {
        const rows = await query('sum(istio_requests_total{reporter="source"}) by (destination_service, response_code)');
        const got = new Map(rows.map((r) => [`${r.metric.destination_service}/${r.metric.response_code}`, Number(r.value[1])]));
        return [...sent].every(([k, v]) => got.get(k) === v) ? got : undefined;
      },
      15_000,
      `totals ${JSON.stringify([...sent])} not scraped`,
    );
    expect(totals.size).toBe(3);

    const rate = await waitFor(
      async () => {
        const rows = await query('sum(rate(istio_requests_total[1m])) by (destination_service, response_code)');
        return rows.length === 3 && rows.every((r) => Number(r.value[1]) > 0) ? new Map(rows.map((r) => [`${r.metric.destination_service}/${r.metric.response_code}`, Number(r.value[1])])) : undefined;
      },
      15_000,
      'rate() did not return the three series with traffic',
    );
    expect([...rate.keys()].sort()).toEqual(['ratings/200', 'ratings/503', 'reviews/200']);
    for (const v of rate.values()) expect(v).toBeGreaterThan(0);
    // ratings failed one request in four: the rates say so too.
    const errorShare = rate.get('ratings/503')! / (rate.get('ratings/503')! + rate.get('ratings/200')!);
    expect(errorShare).toBeGreaterThan(0.2);
    expect(errorShare).toBeLessThan(0.3);

    // The histograms are well-formed for histogram_quantile.
    const p50 = await query('histogram_quantile(0.5, sum(rate(istio_request_duration_milliseconds_bucket[1m])) by (le, destination_service))');
    expect(p50.map((r) => r.metric.destination_service).sort()).toEqual(['ratings', 'reviews']);
    for (const r of p50) {
      expect(Number(r.value[1])).toBeGreaterThan(0);
      expect(Number(r.value[1])).toBeLessThan(1000);
    }
    const labels = (await query('istio_requests_total{destination_service="reviews"}'))[0]!.metric;
    expect(labels).toMatchObject({ reporter: 'source', source_workload: 'productpage-v1', destination_workload: 'reviews-v1', request_protocol: 'http', response_flags: '-' });
  });
});
