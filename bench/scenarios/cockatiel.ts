/**
 * P7: enmesh's added CPU per request next to cockatiel's, in one run. Three
 * sides, interleaved in rounds: raw undici.request; the same call wrapped in
 * cockatiel (retry + breaker + timeout); and the same call through enmesh
 * with its full resilience stack armed but not triggering.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import { init } from 'enmesh';
import { closedLoop, median, spreadPercent, type RoundResult } from '../lib/measure.ts';
import type { Upstream } from '../lib/upstream.ts';
import { benchMeshYaml } from '../lib/mesh-config.ts';

export interface CockatielResult {
  readonly raw: RoundResult[];
  readonly cockatiel: RoundResult[];
  readonly mesh: RoundResult[];
  /** Median over rounds of paired (side − raw) CPU µs per request. */
  readonly cockatielAddedCpuUs: number;
  readonly meshAddedCpuUs: number;
  /** Median over rounds of paired side ÷ raw requests per second. */
  readonly cockatielThroughputRatio: number;
  readonly meshThroughputRatio: number;
  /** enmesh's added CPU ÷ cockatiel's (below 1: enmesh costs less). */
  readonly meshVsCockatiel: number;
}

type Send = () => Promise<void>;

export async function cockatielScenario(upstream: Upstream, opts: { rounds: number; requests: number; concurrency: number }): Promise<CockatielResult> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, benchMeshYaml(`127.0.0.1:${upstream.port}`, { resilience: true }));
  const mesh = await init({ config: file, hooks: { undici: false, http: false }, watch: false });
  const rawAgent = new Agent({ connections: opts.concurrency });
  const cockatielAgent = new Agent({ connections: opts.concurrency });
  const meshDispatcher = new Agent({ connections: opts.concurrency }).compose(mesh.interceptor());
  const rawUrl = `http://127.0.0.1:${upstream.port}/api/items`;
  const meshUrl = 'http://bench:8080/api/items';

  // The policy set the comparison is about, as a cockatiel user would write it.
  const policy = wrap(
    retry(handleAll, { maxAttempts: 2 }),
    circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(5000, TimeoutStrategy.Aggressive),
  );

  const sendRaw: Send = async () => {
    const res = await request(rawUrl, { dispatcher: rawAgent });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  };
  // The timeout's signal goes to undici so a timed-out attempt is really
  // cancelled, as enmesh's route timeout cancels its attempt: like for like.
  const attempt = async ({ signal }: { signal: AbortSignal }): Promise<void> => {
    const res = await request(rawUrl, { dispatcher: cockatielAgent, signal });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  };
  const sendCockatiel: Send = () => policy.execute(attempt);
  const sendMesh: Send = async () => {
    const res = await request(meshUrl, { dispatcher: meshDispatcher });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  };

  const sides: readonly Send[] = [sendRaw, sendCockatiel, sendMesh];
  // Warm up every path until the JIT has settled.
  for (let i = 0; i < 2; i++) {
    for (const send of sides) await closedLoop(opts.requests, opts.concurrency, send);
  }

  const rounds: RoundResult[][] = [[], [], []];
  for (let r = 0; r < opts.rounds; r++) {
    // Rotate the order each round so drift (thermal, other load) hits all sides alike.
    for (let k = 0; k < sides.length; k++) {
      const s = (r + k) % sides.length;
      rounds[s]!.push(await closedLoop(opts.requests, opts.concurrency, sides[s]!));
    }
  }
  await rawAgent.close();
  await cockatielAgent.close();
  await mesh.close();
  await rm(dir, { recursive: true, force: true });

  const [raw, cockatiel, meshRounds] = rounds as [RoundResult[], RoundResult[], RoundResult[]];
  // Paired per round against the raw round next to it, then the median.
  const addedCpu = (side: RoundResult[]): number => median(side.map((x, i) => x.cpuUsPerRequest - raw[i]!.cpuUsPerRequest));
  const tpRatio = (side: RoundResult[]): number => median(side.map((x, i) => x.throughput / raw[i]!.throughput));
  const cockatielAddedCpuUs = addedCpu(cockatiel);
  const meshAddedCpuUs = addedCpu(meshRounds);
  return {
    raw,
    cockatiel,
    mesh: meshRounds,
    cockatielAddedCpuUs,
    meshAddedCpuUs,
    cockatielThroughputRatio: tpRatio(cockatiel),
    meshThroughputRatio: tpRatio(meshRounds),
    meshVsCockatiel: meshAddedCpuUs / cockatielAddedCpuUs,
  };
}

export function cockatielTable(t: CockatielResult): string {
  const row = (name: string, rounds: RoundResult[]): string => {
    const tp = rounds.map((x) => x.throughput);
    const cpu = rounds.map((x) => x.cpuUsPerRequest);
    const errs = rounds.reduce((a, x) => a + x.errors, 0);
    return `${name.padEnd(22)} ${median(tp).toFixed(0).padStart(9)} req/s ±${spreadPercent(tp).toFixed(1).padStart(4)}%   ${median(cpu).toFixed(2).padStart(7)} µs CPU/req   errors ${errs}`;
  };
  return [
    row('raw undici.request', t.raw),
    row('cockatiel-wrapped', t.cockatiel),
    row('enmesh full stack', t.mesh),
  ].join('\n');
}
