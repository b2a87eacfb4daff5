/**
 * P3 and P4: added latency, open loop at a fixed rate (latency from the
 * scheduled send time). Three sides, each at that rate, run together and
 * staggered within each interval (bench/lib/open-loop.ts openLoopStaggered):
 * - raw: undici.request to a plain node:http upstream;
 * - enmesh: the same call through the mesh (full client stack) to the same
 *   upstream code running with enmesh's server side (init() as `bench`);
 * - sidecars: undici.request through two HAProxy hops (outbound and inbound
 *   sidecar) to the plain upstream. Skipped, with the reason, when HAProxy is
 *   not installed.
 * Added latency is the side's percentile minus raw's, over all rounds.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { init } from 'enmesh';
import type { Upstream } from '../lib/upstream.ts';
import { startUpstream } from '../lib/upstream.ts';
import { benchMeshYaml } from '../lib/mesh-config.ts';
import { concat, openLoopStaggered, quantile } from '../lib/open-loop.ts';
import { HAPROXY, startHaproxyPair, type ProxyPair } from '../lib/haproxy-pair.ts';
import type { Send } from '../lib/interleave.ts';

export interface LatencySide {
  readonly name: string;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly errors: number;
  readonly samples: number;
}

export interface LatencyResult {
  readonly rate: number;
  readonly sides: LatencySide[];
  readonly meshAddedP50Us: number;
  readonly meshAddedP99Us: number;
  readonly sidecarAddedP50Us: number | undefined;
  readonly sidecarAddedP99Us: number | undefined;
  /** Sidecar pair's added p50 ÷ enmesh's (goal ≥ 10). */
  readonly sidecarVsMesh: number | undefined;
  readonly skipped?: string;
}

export async function latencyScenario(upstream: Upstream, opts: { rate: number; rounds: number; roundMs: number }): Promise<LatencyResult> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-'));
  const serverFile = join(dir, 'server-mesh.yaml');
  await writeFile(serverFile, benchMeshYaml('127.0.0.1:9', { resilience: true }));
  const hooked = await startUpstream(1, 'hooked-server.ts', [serverFile]);
  const clientFile = join(dir, 'mesh.yaml');
  await writeFile(clientFile, benchMeshYaml(`127.0.0.1:${hooked.port}`, { resilience: true }));
  const mesh = await init({ config: clientFile, hooks: { undici: false, http: false, grpc: false }, watch: false });
  let pair: ProxyPair | undefined;
  let skipped: string | undefined;
  if (HAPROXY === undefined) skipped = 'haproxy is not installed (Debian package haproxy): sidecar comparison skipped';
  // The pair gets an upstream process of its own: a process woken twice as often answers faster, so each
  // side's upstream sees the same 1,000 requests/s (raw's, the hooked one, the pair's).
  let pairUpstream: Upstream | undefined;
  if (HAPROXY !== undefined) {
    pairUpstream = await startUpstream(1);
    pair = await startHaproxyPair(pairUpstream.port, 1);
  }

  const rawAgent = new Agent({ connections: 50 });
  const meshDispatcher = new Agent({ connections: 50 }).compose(mesh.interceptor());
  const proxyAgent = new Agent({ connections: 50 });
  const send = (url: string, dispatcher: Agent | typeof meshDispatcher): Send => async () => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  const sides: { name: string; send: Send }[] = [
    { name: 'raw undici.request', send: send(`http://127.0.0.1:${upstream.port}/api/items`, rawAgent) },
    { name: 'enmesh (client + server)', send: send('http://bench:8080/api/items', meshDispatcher) },
  ];
  if (pair !== undefined) sides.push({ name: 'sidecar pair (2× HAProxy)', send: send(`http://127.0.0.1:${pair.port}/api/items`, proxyAgent) });

  // Warm-up: JIT, connections, HAProxy's pools.
  await openLoopStaggered(opts.rate, 1000, sides.map((s) => s.send));
  const lat: Float64Array[][] = sides.map(() => []);
  const errors = sides.map(() => 0);
  for (let r = 0; r < opts.rounds; r++) {
    // Rotate which side goes first within the interval, so none always follows another.
    const order = sides.map((_, k) => (r + k) % sides.length);
    const res = await openLoopStaggered(opts.rate, opts.roundMs, order.map((i) => sides[i]!.send));
    order.forEach((i, k) => {
      lat[i]!.push(res[k]!.latenciesUs);
      errors[i]! += res[k]!.errors;
    });
  }
  await rawAgent.close();
  await proxyAgent.close();
  await mesh.close();
  await pair?.stop();
  await pairUpstream?.stop();
  await hooked.stop();
  await rm(dir, { recursive: true, force: true });

  const out: LatencySide[] = sides.map((s, i) => {
    const all = concat(lat[i]!);
    return { name: s.name, p50Us: quantile(all, 0.5), p90Us: quantile(all, 0.9), p99Us: quantile(all, 0.99), errors: errors[i]!, samples: all.length };
  });
  const [raw, viaMesh, proxy] = out as [LatencySide, LatencySide, LatencySide | undefined];
  const meshAddedP50Us = viaMesh.p50Us - raw.p50Us;
  const sidecarAddedP50Us = proxy === undefined ? undefined : proxy.p50Us - raw.p50Us;
  return {
    rate: opts.rate,
    sides: out,
    meshAddedP50Us,
    meshAddedP99Us: viaMesh.p99Us - raw.p99Us,
    sidecarAddedP50Us,
    sidecarAddedP99Us: proxy === undefined ? undefined : proxy.p99Us - raw.p99Us,
    // A mesh that adds (next to) nothing would make the ratio meaningless: floor the divisor at 1 µs.
    sidecarVsMesh: sidecarAddedP50Us === undefined ? undefined : sidecarAddedP50Us / Math.max(1, meshAddedP50Us),
    ...(skipped !== undefined ? { skipped } : {}),
  };
}

export function latencyTable(t: LatencyResult): string {
  const lines = t.sides.map(
    (s) => `  ${s.name.padEnd(30)} p50 ${(s.p50Us / 1000).toFixed(3).padStart(7)} ms   p99 ${(s.p99Us / 1000).toFixed(3).padStart(7)} ms   (${s.samples} requests, ${s.errors} errors)`,
  );
  lines.push(`  → enmesh adds p50 ${t.meshAddedP50Us.toFixed(0)} µs, p99 ${t.meshAddedP99Us.toFixed(0)} µs (goal ≤ 10 / ≤ 50)`);
  if (t.sidecarAddedP50Us !== undefined) {
    lines.push(`  → sidecar pair adds p50 ${t.sidecarAddedP50Us.toFixed(0)} µs, p99 ${t.sidecarAddedP99Us!.toFixed(0)} µs: ${t.sidecarVsMesh!.toFixed(1)}× enmesh's p50 (goal ≥ 10×)`);
  }
  if (t.skipped !== undefined) lines.push(`  (${t.skipped})`);
  return lines.join('\n');
}
