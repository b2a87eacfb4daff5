/**
 * P1/P2: each client against its raw self, 1 KB responses, 50 concurrent,
 * interleaved rounds in one process. The mesh side runs the full client
 * stack: route match, weighted subset pick, round-robin, a route timeout and
 * a retry policy, connection-pool limits, outlier detection, a circuit
 * breaker, Istio request metrics and tracing at 1 % sampling — all armed,
 * none triggering.
 *
 * - undici.request: raw Agent vs the same Agent composed with the mesh interceptor;
 * - fetch (undici's): the same two dispatchers;
 * - http.request: Node's own client (keep-alive agent) vs http.request to the
 *   mesh host through the node:http hook. The raw side also passes through the
 *   hook (one Map lookup: 127.0.0.1 is not a mesh service).
 */
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch, request } from 'undici';
import { init } from 'enmesh';
import type { RoundResult } from '../lib/measure.ts';
import type { Upstream } from '../lib/upstream.ts';
import { benchMeshYaml } from '../lib/mesh-config.ts';
import { benchTelemetry, spanSink } from '../lib/telemetry-setup.ts';
import { addedCpuUs, interleaved, sideRow, throughputRatio, type RoundPlan, type Send } from '../lib/interleave.ts';

export interface PairResult {
  readonly client: string;
  readonly raw: RoundResult[];
  readonly mesh: RoundResult[];
  readonly ratio: number;
  readonly addedCpuUs: number;
}

export interface ThroughputResult {
  readonly pairs: PairResult[];
  /** The undici.request pair: the headline P1/P2 figures. */
  readonly ratio: number;
  readonly addedCpuUs: number;
}

function check(status: number): void {
  if (status !== 200) throw new Error(`status ${status}`);
}

function httpGet(url: string, agent: http.Agent | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, agent === undefined ? {} : { agent }, (res) => {
      res.on('error', reject);
      res.on('end', () => {
        try {
          check(res.statusCode ?? 0);
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      });
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });
}

export async function throughputScenario(upstream: Upstream, plan: RoundPlan, otherPlan: RoundPlan): Promise<ThroughputResult> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, benchMeshYaml(`127.0.0.1:${upstream.port}`, { resilience: true }));
  const mesh = await init({
    config: file,
    hooks: { undici: false, http: true, grpc: false },
    watch: false,
    ...benchTelemetry(0.01),
  });
  const dropSpans = spanSink(mesh).drop;
  const rawAgent = new Agent({ connections: plan.concurrency });
  const meshDispatcher = new Agent({ connections: plan.concurrency }).compose(mesh.interceptor());
  const rawUrl = `http://127.0.0.1:${upstream.port}/api/items`;
  const meshUrl = 'http://bench:8080/api/items';
  const nodeAgent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency });

  const undiciSend = (url: string, dispatcher: typeof rawAgent | typeof meshDispatcher): Send => async () => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    check(res.statusCode);
  };
  const fetchSend = (url: string, dispatcher: typeof rawAgent | typeof meshDispatcher): Send => async () => {
    const res = await fetch(url, { dispatcher });
    await res.arrayBuffer();
    check(res.status);
  };

  const pairs: PairResult[] = [];
  const runPair = async (client: string, raw: Send, viaMesh: Send, p: RoundPlan): Promise<void> => {
    const [r, m] = (await interleaved([{ name: 'raw', send: raw }, { name: 'mesh', send: viaMesh, beforeRound: dropSpans }], p)) as [RoundResult[], RoundResult[]];
    pairs.push({ client, raw: r, mesh: m, ratio: throughputRatio(m, r), addedCpuUs: addedCpuUs(m, r) });
  };
  await runPair('undici.request', undiciSend(rawUrl, rawAgent), undiciSend(meshUrl, meshDispatcher), plan);
  await runPair('fetch', fetchSend(rawUrl, rawAgent), fetchSend(meshUrl, meshDispatcher), otherPlan);
  await runPair('http.request', () => httpGet(rawUrl, nodeAgent), () => httpGet(meshUrl, undefined), otherPlan);

  nodeAgent.destroy();
  await rawAgent.close();
  await mesh.close();
  await rm(dir, { recursive: true, force: true });
  const head = pairs[0]!;
  return { pairs, ratio: head.ratio, addedCpuUs: head.addedCpuUs };
}

export function throughputTable(t: ThroughputResult): string {
  const lines: string[] = [];
  for (const p of t.pairs) {
    lines.push(sideRow(`raw ${p.client}`, p.raw));
    lines.push(sideRow(`${p.client} through enmesh`, p.mesh));
    lines.push(`  → ratio ${p.ratio.toFixed(3)}, added CPU ${p.addedCpuUs.toFixed(2)} µs/request`);
  }
  return lines.join('\n');
}
