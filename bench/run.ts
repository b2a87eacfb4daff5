/**
 * `npm run bench [-- --quick]`: the mesh's cost per request, as ratios against
 * the raw client measured in the same run. The last line is one JSON object.
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { startUpstream, pin } from './lib/upstream.ts';
import { throughputScenario, throughputTable } from './scenarios/throughput.ts';
import { cockatielScenario, cockatielTable } from './scenarios/cockatiel.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick === true;

pin(process.pid, 0);
const upstream = await startUpstream(1);
const out = (s: string): void => void process.stdout.write(`${s}\n`);

out(`enmesh benchmark (${quick ? 'quick' : 'full'}) — node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}`);
out('');
out('P1/P2 throughput and CPU: undici.request, 1 KB responses, 50 concurrent, interleaved rounds (medians, ± = spread)');
const tp = await throughputScenario(upstream, quick ? { rounds: 7, requests: 8000, concurrency: 50 } : { rounds: 15, requests: 20000, concurrency: 50 });
out(throughputTable(tp));
out(`throughput ratio enmesh/raw: ${tp.ratio.toFixed(3)} (goal >= 0.95)   added CPU: ${tp.addedCpuUs.toFixed(2)} µs/request (goal <= 3)`);
out('');
out('P7 against cockatiel: the same calls wrapped in cockatiel (retry + breaker + timeout) and through enmesh (pool limits, outlier detection, breaker, retry, timeout: armed, not triggering)');
const ck = await cockatielScenario(upstream, quick ? { rounds: 5, requests: 6000, concurrency: 50 } : { rounds: 11, requests: 20000, concurrency: 50 });
out(cockatielTable(ck));
out(`added CPU over raw: cockatiel ${ck.cockatielAddedCpuUs.toFixed(2)} µs/request, enmesh ${ck.meshAddedCpuUs.toFixed(2)} µs/request   enmesh/cockatiel: ${ck.meshVsCockatiel.toFixed(3)} (goal < 1)`);
out(`throughput ratio over raw: cockatiel ${ck.cockatielThroughputRatio.toFixed(3)}, enmesh full stack ${ck.meshThroughputRatio.toFixed(3)} (goal >= 0.95)`);

await upstream.stop();
out(
  JSON.stringify({
    p1_throughput_ratio: Number(tp.ratio.toFixed(4)),
    p2_added_cpu_us_per_request: Number(tp.addedCpuUs.toFixed(3)),
    p7_vs_cockatiel_ratio: Number(ck.meshVsCockatiel.toFixed(4)),
  }),
);
