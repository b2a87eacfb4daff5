/**
 * P1/P2: raw undici.request against the same calls through enmesh (routing,
 * load balancing and a retry policy armed but not triggering), 1 KB
 * responses, 50 concurrent, interleaved rounds in one process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { init } from 'enmesh';
import { closedLoop, median, spreadPercent, type RoundResult } from '../lib/measure.ts';
import type { Upstream } from '../lib/upstream.ts';
import { benchMeshYaml } from '../lib/mesh-config.ts';

export interface ThroughputResult {
  readonly raw: RoundResult[];
  readonly mesh: RoundResult[];
  readonly ratio: number;
  readonly addedCpuUs: number;
}

export async function throughputScenario(upstream: Upstream, opts: { rounds: number; requests: number; concurrency: number }): Promise<ThroughputResult> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(
    file,
    benchMeshYaml(`127.0.0.1:${upstream.port}`),
  );
  const mesh = await init({ config: file, hooks: { undici: false, http: false }, watch: false });
  const rawAgent = new Agent({ connections: opts.concurrency });
  const meshDispatcher = new Agent({ connections: opts.concurrency }).compose(mesh.interceptor());
  const rawUrl = `http://127.0.0.1:${upstream.port}/api/items`;
  const meshUrl = 'http://bench:8080/api/items';

  const sendRaw = async (): Promise<void> => {
    const res = await request(rawUrl, { dispatcher: rawAgent });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  };
  const sendMesh = async (): Promise<void> => {
    const res = await request(meshUrl, { dispatcher: meshDispatcher });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  };

  // Warm up both paths until the JIT has settled (connections, inline caches, optimised code).
  for (let i = 0; i < 3; i++) {
    await closedLoop(opts.requests, opts.concurrency, sendRaw);
    await closedLoop(opts.requests, opts.concurrency, sendMesh);
  }

  const raw: RoundResult[] = [];
  const meshRounds: RoundResult[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    // Alternate which goes first so drift (thermal, other load) hits both alike.
    if (r % 2 === 0) {
      raw.push(await closedLoop(opts.requests, opts.concurrency, sendRaw));
      meshRounds.push(await closedLoop(opts.requests, opts.concurrency, sendMesh));
    } else {
      meshRounds.push(await closedLoop(opts.requests, opts.concurrency, sendMesh));
      raw.push(await closedLoop(opts.requests, opts.concurrency, sendRaw));
    }
  }
  await rawAgent.close();
  await mesh.close();
  await rm(dir, { recursive: true, force: true });
  // Paired per round (each mesh round next to its raw round), then the median:
  // drift in machine load between rounds cancels out.
  const ratio = median(meshRounds.map((m, i) => m.throughput / raw[i]!.throughput));
  const addedCpuUs = median(meshRounds.map((m, i) => m.cpuUsPerRequest - raw[i]!.cpuUsPerRequest));
  return { raw, mesh: meshRounds, ratio, addedCpuUs };
}

export function throughputTable(t: ThroughputResult): string {
  const row = (name: string, rounds: RoundResult[]): string => {
    const tp = rounds.map((x) => x.throughput);
    const cpu = rounds.map((x) => x.cpuUsPerRequest);
    const errs = rounds.reduce((a, x) => a + x.errors, 0);
    return `${name.padEnd(22)} ${median(tp).toFixed(0).padStart(9)} req/s ±${spreadPercent(tp).toFixed(1).padStart(4)}%   ${median(cpu).toFixed(2).padStart(7)} µs CPU/req   errors ${errs}`;
  };
  return [row('raw undici.request', t.raw), row('through enmesh', t.mesh)].join('\n');
}
