/**
 * `node --conditions=enmesh-source bench/micro-dispatch.ts`: the mesh's own
 * per-request work, isolated. The interceptor runs against a dispatch that
 * answers synchronously, so no socket or parser time is counted; compare
 * with the same loop on a pass-through origin. Used to find hot-path costs.
 * Also counts the bytes a request allocates (a heap reading before and after
 * a loop with no collection in between): it re-runs itself with a young
 * generation large enough for that.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { MeshRuntime } from '../src/runtime/mesh-runtime.ts';
import { createMeshInterceptor } from '../src/transports/undici/interceptor.ts';
import { parseMeshYaml } from '../src/config/load.ts';
import { createMeshMetrics } from '../src/telemetry/metrics.ts';
import type { Dispatcher } from 'undici';
import { benchMeshYaml } from './lib/mesh-config.ts';
import { startTracing } from '../src/telemetry/tracing.ts';

const YOUNG = ['--min-semi-space-size=64', '--max-semi-space-size=64'];
if (!process.execArgv.includes(YOUNG[0]!)) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...YOUNG, fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const model = parseMeshYaml(benchMeshYaml('127.0.0.1:1234'), 'bench');

const body = Buffer.alloc(1024);
const controller = { abort() {}, pause() {}, resume() {}, aborted: false, paused: false, reason: null, rawHeaders: null, rawTrailers: null };
const answer: Dispatcher['dispatch'] = (_opts, h) => {
  h.onRequestStart?.(controller as never, {});
  h.onResponseStart?.(controller as never, 200, { 'content-length': '1024' }, 'OK');
  h.onResponseData?.(controller as never, body);
  h.onResponseEnd?.(controller as never, {});
  return true;
};
const handler: Dispatcher.DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseData() {},
  onResponseEnd() {},
  onResponseError(_c, e) {
    throw e;
  },
};

// Bytes allocated per request: two heap readings with no collection in between.
let collections = 0;
new PerformanceObserver((list) => void (collections += list.getEntries().length)).observe({ entryTypes: ['gc'] });
const ALLOC_N = 5_000;

function allocated(dispatch: Dispatcher['dispatch'], opts: Dispatcher.DispatchOptions): string {
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = collections;
    const h0 = getHeapStatistics().used_heap_size;
    for (let i = 0; i < ALLOC_N; i++) dispatch(opts, handler);
    const h1 = getHeapStatistics().used_heap_size;
    if (collections === before && h1 >= h0) return `${Math.round((h1 - h0) / ALLOC_N)} B/request`;
  }
  return 'allocation not measured (a collection ran)';
}

/** Runs `n` calls in slices, yielding to the event loop between slices so the promises and timers the calls start settle as they would in a server (a synchronous loop of a million calls would hold every pending export alive). */
async function run(dispatch: Dispatcher['dispatch'], opts: Dispatcher.DispatchOptions, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    dispatch(opts, handler);
    if ((i & 1023) === 1023) await new Promise(setImmediate);
  }
}

async function measure(label: string, dispatch: Dispatcher['dispatch'], opts: Dispatcher.DispatchOptions, n = 1_000_000): Promise<void> {
  await run(dispatch, opts, n / 5);
  const c0 = process.cpuUsage();
  await run(dispatch, opts, n);
  const c = process.cpuUsage(c0);
  process.stdout.write(`${label.padEnd(28)} ${((c.user + c.system) / n).toFixed(3)} µs CPU/request   ${allocated(dispatch, opts)}\n`);
}

const meshOpts = { origin: 'http://bench:8080', path: '/api/items', method: 'GET', headers: { 'user-agent': 'bench' } } as Dispatcher.DispatchOptions;
const passOpts = { ...meshOpts, origin: 'http://127.0.0.1:1234' } as Dispatcher.DispatchOptions;

const plain = new MeshRuntime();
plain.setModel(model);
await measure('pass-through', createMeshInterceptor(plain)(answer), passOpts);
await measure('mesh, no metrics', createMeshInterceptor(plain)(answer), meshOpts);
const withMetrics = new MeshRuntime({ serviceName: 'client' });
withMetrics.setModel(model);
withMetrics.metrics = createMeshMetrics({ self: { service: 'client', workload: 'client-v1', app: 'client', canonicalService: 'client' } });
await measure('mesh, with metrics', createMeshInterceptor(withMetrics)(answer), meshOpts);
const traced = new MeshRuntime({ serviceName: 'client' });
traced.setModel(model);
traced.metrics = withMetrics.metrics;
const rate = Number(process.env.SAMPLE_RATE ?? 0.01);
traced.tracing = await startTracing({ exporter: 'memory', sampleRate: rate });
await measure(`mesh, metrics, tracing ${rate * 100} %`, createMeshInterceptor(traced)(answer), meshOpts, 200_000);
