/**
 * `npm run bench [-- --quick] [-- --only p1,p3,...]`: what the mesh costs per
 * request, as ratios and differences against the raw client measured in the
 * same run (docs/performance.md). The last line is one JSON object with every
 * figure measured.
 *
 *   p1  throughput, full client stack vs raw (undici.request, fetch, http.request)
 *   p2  added CPU per request (from the p1 rounds)
 *   p3  added latency, open loop at 1,000 requests/s, client and server hooked
 *   p4  the same traffic through a pair of HAProxy sidecars
 *   p5  mTLS: enmesh mTLS vs raw TLS undici; the authorization check's cost
 *   p6  gRPC: xds:/// calls with enmesh vs a plain grpc-js-xds client
 *   p7  against cockatiel (retry + breaker + timeout)
 *   p8  memory with 1,000 endpoints and 100 routes
 *   t   tracing at 100 % sampling
 * It also draws bench/out/chart.svg: latency of raw, enmesh and the sidecar
 * pair, and each client's throughput raw and through enmesh.
 * The control plane has its own benchmark: `npm run bench:control-plane` (p9).
 */
import { parseArgs } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib/measure.ts';
import os from 'node:os';
import { startUpstream, pin } from './lib/upstream.ts';
import { throughputScenario, throughputTable } from './scenarios/throughput.ts';
import { cockatielScenario, cockatielTable } from './scenarios/cockatiel.ts';
import { latencyScenario, latencyTable } from './scenarios/latency.ts';
import { grpcScenario, grpcTable } from './scenarios/grpc.ts';
import { renderChart, type LatencyBar, type ThroughputPair } from './lib/chart.ts';
import { memoryScenario, memoryTable } from './scenarios/memory.ts';
import { tracingCostScenario, tracingCostTable } from './scenarios/tracing-cost.ts';
import { mtlsScenario, mtlsTable } from './scenarios/mtls.ts';
import { authzCostScenario, authzCostTable } from './scenarios/authz.ts';

const ALL = ['p1', 'p3', 'p5', 'p6', 'p7', 'p8', 't'] as const;
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = values.quick === true;
const only = new Set((values.only ?? ALL.join(',')).split(',').map((s) => s.trim().replace(/^p2$/, 'p1').replace(/^p4$/, 'p3')));
for (const o of only) if (!(ALL as readonly string[]).includes(o)) throw new Error(`--only: unknown scenario "${o}"; use ${ALL.join(', ')} (p2 is part of p1, p4 of p3)`);

pin(process.pid, 0);
const upstream = await startUpstream(1);
const out = (s: string): void => void process.stdout.write(`${s}\n`);
const figures: Record<string, number | string | null> = {};
const fix = (n: number | undefined, d = 4): number | null => (n === undefined || !Number.isFinite(n) ? null : Number(n.toFixed(d)));
const started = performance.now();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chartLatency: LatencyBar[] = [];
const chartThroughput: ThroughputPair[] = [];
const medianThroughput = (rounds: readonly { throughput: number }[]): number => median(rounds.map((r) => r.throughput));

out(`enmesh benchmark (${quick ? 'quick' : 'full'}) — node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg()[0]!.toFixed(2)}`);

if (only.has('p1')) {
  out('');
  out('P1/P2 throughput and added CPU: 1 KB responses, 50 concurrent, full client stack (routing, LB, retry, timeout, pool limits, breaker, outlier detection, metrics, tracing 1 %), interleaved rounds (medians, ± = spread)');
  const main = quick ? { rounds: 5, requests: 8000, concurrency: 50 } : { rounds: 15, requests: 20000, concurrency: 50 };
  const other = quick ? { rounds: 5, requests: 5000, concurrency: 50 } : { rounds: 9, requests: 10000, concurrency: 50 };
  const tp = await throughputScenario(upstream, main, other);
  out(throughputTable(tp));
  out(`throughput ratio enmesh/raw (undici.request): ${tp.ratio.toFixed(3)} (goal >= 0.95)   added CPU: ${tp.addedCpuUs.toFixed(2)} µs/request (goal <= 3)`);
  figures.p1_throughput_ratio = fix(tp.ratio);
  figures.p2_added_cpu_us_per_request = fix(tp.addedCpuUs, 3);
  for (const p of tp.pairs.slice(1)) figures[`p1_${p.client.replace(/\W+/g, '_')}_ratio`] = fix(p.ratio);
  // Which GC mode the process ran in (docs/performance.md, "Two GC modes"): GC per request of each side, majors in all.
  const head = tp.pairs[0]!;
  figures.p1_raw_gc_us_per_request = fix(median(head.raw.map((r) => r.gcUsPerRequest)), 3);
  figures.p1_mesh_gc_us_per_request = fix(median(head.mesh.map((r) => r.gcUsPerRequest)), 3);
  figures.p1_major_gcs = [...head.raw, ...head.mesh].reduce((a, r) => a + r.majorGcs, 0);
  for (const p of tp.pairs) chartThroughput.push({ label: p.client, raw: medianThroughput(p.raw), mesh: medianThroughput(p.mesh) });
}

if (only.has('p3')) {
  out('');
  out('P3/P4 added latency, open loop at 1,000 requests/s per side (latency from the scheduled send time), the sides staggered within each millisecond');
  const lat = await latencyScenario(upstream, quick ? { rate: 1000, rounds: 3, roundMs: 2000 } : { rate: 1000, rounds: 6, roundMs: 5000 });
  out(latencyTable(lat));
  figures.p3_added_p50_us = fix(lat.meshAddedP50Us, 1);
  for (const side of lat.sides) chartLatency.push({ name: side.name, p50Us: side.p50Us, p90Us: side.p90Us });
  figures.p3_added_p99_us = fix(lat.meshAddedP99Us, 1);
  figures.p4_proxy_pair_added_p50_us = fix(lat.sidecarAddedP50Us, 1);
  figures.p4_proxy_pair_ratio = fix(lat.sidecarVsMesh, 2);
}

if (only.has('p5')) {
  out('');
  out('P5 mTLS: enmesh mTLS strict (SVIDs from the control plane CA, full client stack) vs raw mutual-TLS undici.request, 1 KB, 50 concurrent');
  const m = await mtlsScenario(quick ? { rounds: 5, requests: 4000, concurrency: 50 } : { rounds: 25, requests: 10000, concurrency: 50 });
  out(mtlsTable(m));
  figures.p5_mtls_ratio = fix(m.ratio);
  chartThroughput.push({ label: 'undici.request, mTLS', raw: medianThroughput(m.raw), mesh: medianThroughput(m.mesh) });
  out('Authorization check (inbound, in process)');
  const a = authzCostScenario(quick ? 500_000 : 2_000_000);
  out(authzCostTable(a));
  figures.p5_authz_us_per_request = fix(a.usPerRequest, 3);
}

if (only.has('p6')) {
  out('');
  out('P6 gRPC unary: xds:///ratings through enmesh vs a plain @grpc/grpc-js-xds client, same control plane and config, 50 concurrent');
  const g = await grpcScenario(quick ? { rounds: 4, requests: 3000, concurrency: 50 } : { rounds: 25, requests: 10000, concurrency: 50 });
  out(grpcTable(g));
  figures.p6_grpc_ratio = fix(g.ratio);
  chartThroughput.push({ label: 'gRPC unary (grpc-js-xds)', raw: medianThroughput(g.plain), mesh: medianThroughput(g.mesh) });
}

if (only.has('p7')) {
  out('');
  out('P7 against cockatiel: the same calls wrapped in cockatiel (retry + breaker + timeout) and through enmesh (pool limits, outlier detection, breaker, retry, timeout: armed, not triggering)');
  const ck = await cockatielScenario(upstream, quick ? { rounds: 4, requests: 5000, concurrency: 50 } : { rounds: 11, requests: 20000, concurrency: 50 });
  out(cockatielTable(ck));
  out(`added CPU over raw: cockatiel ${ck.cockatielAddedCpuUs.toFixed(2)} µs/request, enmesh ${ck.meshAddedCpuUs.toFixed(2)} µs/request   enmesh/cockatiel: ${ck.meshVsCockatiel.toFixed(3)} (goal < 1)`);
  out(`throughput ratio over raw: cockatiel ${ck.cockatielThroughputRatio.toFixed(3)}, enmesh full stack ${ck.meshThroughputRatio.toFixed(3)}`);
  figures.p7_vs_cockatiel_ratio = fix(ck.meshVsCockatiel);
}

if (only.has('p8')) {
  out('');
  out('P8 memory: a fresh HTTP service process (undici and node:http loaded), before enmesh is imported and after init() with 1,000 endpoints and 100 routes');
  const m = await memoryScenario(quick ? 3 : 5);
  out(memoryTable(m));
  figures.p8_added_rss_mb = fix(m.totalMb, 2);
  figures.p8_config_added_rss_mb = fix(m.configMb, 2);
  figures.p8_added_rss_over_client_only_mb = fix(m.totalOverClientOnlyMb, 2);
}

if (only.has('t')) {
  out('');
  out('Tracing at 100 % sampling (in-memory exporter), full client stack, vs raw undici.request');
  const t = await tracingCostScenario(upstream, quick ? { rounds: 4, requests: 4000, concurrency: 50 } : { rounds: 25, requests: 10000, concurrency: 50 });
  out(tracingCostTable(t));
  figures.tracing_100_ratio = fix(t.ratio);
  figures.tracing_100_added_cpu_us = fix(t.addedCpuUs, 3);
}

await upstream.stop();
if (chartLatency.length > 0 || chartThroughput.length > 0) {
  const chartFile = join(root, 'bench', 'out', 'chart.svg');
  await mkdir(dirname(chartFile), { recursive: true });
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  await writeFile(chartFile, renderChart({ subtitle: `npm run bench${quick ? ' --quick' : ''}, ${when} UTC, node ${process.version}, ${os.cpus().length} cores`, latency: chartLatency, throughput: chartThroughput }));
  out('');
  out(`chart: ${chartFile}`);
}
out('');
out(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
out(JSON.stringify(figures));
