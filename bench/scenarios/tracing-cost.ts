/**
 * The cost of tracing every request: raw undici.request against the full
 * client stack with 100 % sampling to an in-memory exporter (emptied before
 * each round so memory stays flat). P1 gives the same stack at 1 %.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { init } from 'enmesh';
import type { RoundResult } from '../lib/measure.ts';
import type { Upstream } from '../lib/upstream.ts';
import { benchMeshYaml } from '../lib/mesh-config.ts';
import { benchTelemetry, spanSink } from '../lib/telemetry-setup.ts';
import { addedCpuUs, interleaved, sideRow, throughputRatio, type RoundPlan, type Send } from '../lib/interleave.ts';

export interface TracingCostResult {
  readonly raw: RoundResult[];
  readonly mesh: RoundResult[];
  readonly ratio: number;
  readonly addedCpuUs: number;
  readonly spans: number;
}

export async function tracingCostScenario(upstream: Upstream, plan: RoundPlan): Promise<TracingCostResult> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, benchMeshYaml(`127.0.0.1:${upstream.port}`, { resilience: true }));
  const mesh = await init({ config: file, hooks: { undici: false, http: false, grpc: false }, watch: false, ...benchTelemetry(1) });
  const sink = spanSink(mesh);
  const rawAgent = new Agent({ connections: plan.concurrency });
  const meshDispatcher = new Agent({ connections: plan.concurrency }).compose(mesh.interceptor());
  const send = (url: string, dispatcher: Agent | typeof meshDispatcher): Send => async () => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  const [raw, viaMesh] = (await interleaved(
    [
      { name: 'raw', send: send(`http://127.0.0.1:${upstream.port}/api/items`, rawAgent) },
      {
        name: 'mesh',
        send: send('http://bench:8080/api/items', meshDispatcher),
        beforeRound: sink.drop,
      },
    ],
    plan,
  )) as [RoundResult[], RoundResult[]];
  const spans = sink.total();
  await rawAgent.close();
  await mesh.close();
  await rm(dir, { recursive: true, force: true });
  return { raw, mesh: viaMesh, ratio: throughputRatio(viaMesh, raw), addedCpuUs: addedCpuUs(viaMesh, raw), spans };
}

export function tracingCostTable(t: TracingCostResult): string {
  return [
    sideRow('raw undici.request', t.raw),
    sideRow('enmesh, tracing 100 %', t.mesh),
    `  → ratio ${t.ratio.toFixed(3)}, added CPU ${t.addedCpuUs.toFixed(2)} µs/request (${t.spans} spans exported in memory)`,
  ].join('\n');
}
