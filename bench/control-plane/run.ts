/**
 * `npm run bench:control-plane [-- --clients 10000] [-- --mode delta|sotw|mixed] [-- --quick]`
 *
 * The control plane at scale: N simulated ADS clients (SotW and delta) in a
 * few worker processes, the control plane alone in its own process.
 *   1. connect every client and wait until all hold the config;
 *   2. route changes (a weight edit of mesh.yaml): time from the edit until
 *      every client ACKed the new version, bytes per client, CPU, peak RSS;
 *   3. endpoint churn (instances registering and draining at 40/s): time from
 *      each change until every client ACKed a version holding it;
 *   4. scale check: delta bytes per change at two mesh sizes.
 * Prints tables; the last line is one JSON object.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ByteCount, ClientKind } from './worker-api.ts';
import { Session, killAll } from './session.ts';
import type { ChurnOutcome, CpStats, Mode } from './session.ts';
import { fmt, histPercentile, median, percentile, round, table } from './stats.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string' },
    mode: { type: 'string', default: 'mixed' },
    quick: { type: 'boolean', default: false },
    services: { type: 'string', default: '20' },
    workers: { type: 'string', default: '4' },
    channels: { type: 'string', default: '4' },
    pushes: { type: 'string' },
    'churn-rate': { type: 'string', default: '40' },
    'churn-seconds': { type: 'string' },
    'scale-clients': { type: 'string', default: '200' },
    'no-scale': { type: 'boolean', default: false },
    'flow-window': { type: 'string' },
    'keepalive-timeout': { type: 'string' },
    'connect-rate': { type: 'string', default: '2000' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});

const quick = values.quick === true;
const mode = values.mode as Mode;
if (!['mixed', 'delta', 'sotw'].includes(mode)) throw new Error(`--mode must be mixed, delta or sotw (got ${values.mode})`);
const intArg = (name: string, v: string | undefined, fallback: number): number => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${v})`);
  return n;
};
const clients = intArg('clients', values.clients, 1000);
const services = intArg('services', values.services, 20);
const pushes = intArg('pushes', values.pushes, quick ? 3 : 5);
const churnRate = intArg('churn-rate', values['churn-rate'], 40);
const churnMs = intArg('churn-seconds', values['churn-seconds'], quick ? 3 : 10) * 1000;
const scaleClients = intArg('scale-clients', values['scale-clients'], 200);
const flowWindow = values['flow-window'] === undefined ? undefined : intArg('flow-window', values['flow-window'], 65535);
const connectRate = values['connect-rate'] === '0' ? 0 : intArg('connect-rate', values['connect-rate'], 2000);
const keepaliveTimeoutMs = values['keepalive-timeout'] === undefined ? undefined : intArg('keepalive-timeout', values['keepalive-timeout'], 1000);

const out = (s = ''): void => void process.stdout.write(`${s}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
const cpuS = (a: CpStats, b: CpStats): number => (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1e6;

const dir = await mkdtemp(join(os.tmpdir(), 'enmesh-cp-bench-'));
const sessions: Session[] = [];
const cleanup = async (): Promise<void> => {
  await Promise.allSettled(sessions.map((s) => s.close()));
  killAll();
  await rm(dir, { recursive: true, force: true });
};
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    void rm(dir, { recursive: true, force: true }).finally(() => process.exit(130));
  });
}

const grpcVersion = String(createRequire(import.meta.url)('@grpc/grpc-js/package.json').version);
const workers = Math.min(intArg('workers', values.workers, 4), clients);
const channels = intArg('channels', values.channels, 4);

interface PushResult {
  readonly fromEdit: number[];
  readonly fromPublish: number[];
  readonly publishDelayMs: number;
  readonly stallMs: number;
  readonly cpuS: number;
  readonly clientCpuS: number;
  readonly peakRssMb: number;
  readonly bytes: Record<ClientKind, ByteCount>;
}

/** With --cpu-prof, V8 CPU profiles of the control plane per phase go here. */
const profDir = values['cpu-prof'] === true ? join(os.tmpdir(), `enmesh-cp-profiles-${Date.now()}`) : undefined;
const profiles: string[] = [];
async function profiled<T>(s: Session, name: string, phase: () => Promise<T>): Promise<T> {
  if (profDir === undefined) return phase();
  await s.cp.call('profileStart');
  const result = await phase();
  profiles.push(await s.cp.call<string>('profileStop', { dir: profDir, name }));
  return result;
}

const perClientKb = (b: ByteCount): number => (b.clients === 0 ? Number.NaN : b.bytes / b.clients / 1024);

async function main(): Promise<void> {
  out(
    `enmesh control-plane benchmark (${quick ? 'quick' : 'full'}) — node ${process.version}, @grpc/grpc-js ${grpcVersion}, ` +
      `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 1024 ** 3)} GB`,
  );
  out(
    `${clients} clients (${mode}) in ${workers} worker processes × ${channels} channels, connecting at ${connectRate === 0 ? 'once' : `${connectRate}/s`}; ` +
      `${services} services; churn ${churnRate}/s for ${churnMs / 1000} s`,
  );
  out();

  // --- setup and connect ----------------------------------------------------
  const s = new Session({
    dir,
    services,
    clients,
    mode,
    workers,
    channelsPerWorker: channels,
    connectRate,
    ...(flowWindow === undefined ? {} : { flowWindow }),
    ...(keepaliveTimeoutMs === undefined ? {} : { keepaliveTimeoutMs }),
  });
  sessions.push(s);
  await s.startControlPlane();
  // One registered instance per service: the pool churn drains from.
  await s.prime(1);
  await s.cp.call('gc');
  const base = await s.cpStats();
  await s.cp.call('resetPeak');

  const tConnect = Date.now();
  const conn = await profiled(s, 'connect', async () => {
    await s.startClients();
    return s.converge(s.latest(), 60_000 + clients * 10, true);
  });
  const connectMs = Math.max(...conn.times) - tConnect;
  const afterConnect = await s.cpStats();
  const connectBytes = await s.bytes();
  await sleep(1000);
  await s.cp.call('gc');
  const steady = await s.cpStats();
  const memPerClientKb = (steady.mem.rss - base.mem.rss) / clients / 1024;
  const heapPerClientKb = (steady.mem.heapUsed - base.mem.heapUsed) / clients / 1024;

  out('Connect: every client opens its stream, subscribes and ACKs the whole config');
  out(
    table([
      ['', 'value'],
      ['all clients converged (s)', fmt(connectMs / 1000, 2)],
      ['control plane CPU (s)', fmt(cpuS(base, afterConnect), 2)],
      ['control plane peak RSS (MB)', fmt((afterConnect.peakRss ?? afterConnect.mem.rss) / MB, 0)],
      ['bytes per client, SotW / delta (KB)', `${fmt(perClientKb(connectBytes.sotw))} / ${fmt(perClientKb(connectBytes.delta))}`],
      ['RSS before clients → steady (MB)', `${fmt(base.mem.rss / MB, 0)} → ${fmt(steady.mem.rss / MB, 0)}`],
      ['memory per client: RSS / JS heap (KB)', `${fmt(memPerClientKb)} / ${fmt(heapPerClientKb)}`],
      ['streams on the control plane', String(steady.clients)],
      ['longest event-loop stall, control plane / clients (ms)', `${fmt(afterConnect.loopDelayMaxMs, 0)} / ${fmt(connectBytes.loopDelayMaxMs, 0)}`],
    ]),
  );
  out();

  // --- route changes ---------------------------------------------------------
  const results: PushResult[] = [];
  for (let r = 0; r < pushes; r++) {
    await s.resetBytes();
    await s.cp.call('resetPeak');
    const before = await s.cpStats();
    const wBefore = (await s.bytes()).cpuUs;
    const from = s.publishes.length;
    const { tEdit, publish, conv } = await profiled(s, `route-change-${r + 1}`, async () => {
      const tEdit = await s.editRoute();
      const { publish } = await s.publishWhere(from, () => true, 10_000, 'publishing the route change');
      return { tEdit, publish, conv: await s.converge(publish, 30_000, true) };
    });
    const after = await s.cpStats();
    const bytes = await s.bytes();
    results.push({
      fromEdit: conv.times.map((t) => t - tEdit),
      fromPublish: conv.times.map((t) => t - publish.at),
      publishDelayMs: publish.at - tEdit,
      stallMs: after.loopDelayMaxMs,
      cpuS: cpuS(before, after),
      clientCpuS: (bytes.cpuUs - wBefore) / 1e6,
      peakRssMb: (after.peakRss ?? after.mem.rss) / MB,
      bytes,
    });
    await sleep(500);
  }
  const pushRows: string[][] = [
    ['push', 'p50', 'p99', 'max', 'edit→publish', 'pub→p99', 'stall', 'CPU s', 'clients CPU s', 'peak RSS MB', 'KB/client SotW', 'KB/client delta'],
  ];
  results.forEach((p, i) =>
    pushRows.push([
      String(i + 1),
      fmt(percentile(p.fromEdit, 50), 0),
      fmt(percentile(p.fromEdit, 99), 0),
      fmt(Math.max(...p.fromEdit), 0),
      fmt(p.publishDelayMs, 0),
      fmt(percentile(p.fromPublish, 99), 0),
      fmt(p.stallMs, 0),
      fmt(p.cpuS, 2),
      fmt(p.clientCpuS, 2),
      fmt(p.peakRssMb, 0),
      fmt(perClientKb(p.bytes.sotw), 2),
      fmt(perClientKb(p.bytes.delta), 2),
    ]),
  );
  const med = (f: (p: PushResult) => number): number => median(results.map(f));
  const push = {
    p50: med((p) => percentile(p.fromEdit, 50)),
    p99: med((p) => percentile(p.fromEdit, 99)),
    max: med((p) => Math.max(...p.fromEdit)),
    maxWorst: Math.max(...results.map((p) => Math.max(...p.fromEdit))),
    p99FromPublish: med((p) => percentile(p.fromPublish, 99)),
    cpuS: med((p) => p.cpuS),
    peakRssMb: Math.max(...results.map((p) => p.peakRssMb)),
    kbSotw: med((p) => perClientKb(p.bytes.sotw)),
    kbDelta: med((p) => perClientKb(p.bytes.delta)),
  };
  pushRows.push([
    'median',
    fmt(push.p50, 0),
    fmt(push.p99, 0),
    fmt(push.max, 0),
    fmt(med((p) => p.publishDelayMs), 0),
    fmt(push.p99FromPublish, 0),
    fmt(med((p) => p.stallMs), 0),
    fmt(push.cpuS, 2),
    fmt(med((p) => p.clientCpuS), 2),
    fmt(push.peakRssMb, 0),
    fmt(push.kbSotw, 2),
    fmt(push.kbDelta, 2),
  ]);
  out(`Route change: one weight edit of mesh.yaml; ms from the edit (file renamed into place) until each client ACKed the new version`);
  out(table(pushRows));
  out(`(edit→publish includes the watcher's 100 ms and the cache's 50 ms debounce; pub→p99 counts from the publish;`);
  out(` stall: the control plane's longest event-loop delay; CPU: control plane, then client workers)`);
  out();

  // --- endpoint churn --------------------------------------------------------
  await s.resetBytes();
  await s.cp.call('resetPeak');
  const cBefore = await s.cpStats();
  const cwBefore = (await s.bytes()).cpuUs;
  const cT0 = performance.now();
  const churn = await profiled(s, 'churn', () => s.churn(churnRate, churnMs));
  const cAfter = await s.cpStats();
  const cBytes = await s.bytes();
  const churnWallS = (performance.now() - cT0) / 1000;
  const ch = churnSummary(churn, cBytes);
  out(`Endpoint churn: ${churn.changes} changes (instances registering / draining) at ${churnRate}/s, ${churn.publishes} publishes; ms from each change until clients ACKed a version holding it`);
  out(
    table([
      ['', 'p50', 'p99', 'max'],
      ['per change, until every client had it', fmt(percentile(ch.perChange, 50), 0), fmt(ch.p99, 0), fmt(Math.max(...ch.perChange), 0)],
      ['per change and client, SotW', fmt(histPercentile(churn.hist.sotw, 50), 0), fmt(histPercentile(churn.hist.sotw, 99), 0), '—'],
      ['per change and client, delta', fmt(histPercentile(churn.hist.delta, 50), 0), fmt(histPercentile(churn.hist.delta, 99), 0), '—'],
    ]),
  );
  out(
    table([
      ['', 'value'],
      ['bytes per change per client, SotW / delta (KB)', `${fmt(ch.kbPerChange.sotw, 2)} / ${fmt(ch.kbPerChange.delta, 2)}`],
      ['bytes per publish per client, SotW / delta (KB)', `${fmt(ch.kbPerPublish.sotw, 2)} / ${fmt(ch.kbPerPublish.delta, 2)}`],
      ['control plane CPU (s, % of one core until all converged)', `${fmt(cpuS(cBefore, cAfter), 2)} (${fmt((cpuS(cBefore, cAfter) / churnWallS) * 100, 0)} %)`],
      ['control plane peak RSS (MB)', fmt((cAfter.peakRss ?? cAfter.mem.rss) / MB, 0)],
      ['client workers CPU (s)', fmt((cBytes.cpuUs - cwBefore) / 1e6, 2)],
      ['longest event-loop stall, control plane / clients (ms)', `${fmt(cAfter.loopDelayMaxMs, 0)} / ${fmt(cBytes.loopDelayMaxMs, 0)}`],
      ['publishes that changed more than endpoints', String(churn.otherTypesChanged)],
    ]),
  );
  if (churn.coalesced > 0) out(`${churn.coalesced} registrations were drained before any publish showed them (coalesced; not in the latencies)`);
  if (ch.unconverged > 0) out(`WARNING: ${ch.unconverged} changes never reached every client`);
  out();
  await s.close();

  // --- scale check -----------------------------------------------------------
  const scale: { services: number; kbPerChange: Record<ClientKind, number>; clientP99: number }[] = [];
  if (values['no-scale'] !== true) {
    const scaleMs = (quick ? 2 : 5) * 1000;
    for (const size of [services, services * 4]) {
      const sub = new Session({ dir, services: size, clients: Math.min(scaleClients, clients), mode, workers: 1, channelsPerWorker: 2, connectRate });
      sessions.push(sub);
      await sub.startControlPlane();
      await sub.prime(1);
      await sub.startClients();
      await sub.converge(sub.latest(), 60_000, false);
      await sub.resetBytes();
      const c = await sub.churn(churnRate, scaleMs);
      const b = await sub.bytes();
      const sum = churnSummary(c, b);
      const all = c.hist.sotw.map((v, i) => v + c.hist.delta[i]!);
      scale.push({ services: size, kbPerChange: sum.kbPerChange, clientP99: histPercentile(all, 99) });
      await sub.close();
    }
    out(`Scale check: ${Math.min(scaleClients, clients)} clients (${mode}), churn ${churnRate}/s for ${scaleMs / 1000} s, at two mesh sizes`);
    out(
      table([
        ['services (static endpoints)', 'KB per change per client, SotW', 'delta', 'client p99 ms'],
        ...scale.map((x) => [`${x.services}`, fmt(x.kbPerChange.sotw, 2), fmt(x.kbPerChange.delta, 2), fmt(x.clientP99, 0)]),
      ]),
    );
    out('(a change resends one service\'s load assignments to a delta client, whatever the mesh size; SotW resends every one)');
    out();
  }

  const bytesPerClientKb = Math.max(...[push.kbSotw, push.kbDelta].filter(Number.isFinite));
  const json = {
    clients,
    mode,
    services,
    push_from: 'edit',
    push_p50_ms: round(push.p50),
    push_p99_ms: round(push.p99),
    push_max_ms: round(push.max),
    push_max_worst_ms: round(push.maxWorst),
    push_p99_from_publish_ms: round(push.p99FromPublish),
    bytes_per_client_kb: round(bytesPerClientKb, 2),
    bytes_per_client_kb_sotw: round(push.kbSotw, 2),
    bytes_per_client_kb_delta: round(push.kbDelta, 2),
    push_cpu_s: round(push.cpuS, 3),
    cp_rss_mb: round(push.peakRssMb),
    mem_per_client_kb: round(memPerClientKb, 2),
    connect_s: round(connectMs / 1000, 2),
    churn_changes: churn.changes,
    churn_coalesced: churn.coalesced,
    churn_p99_ms: round(ch.p99),
    churn_client_p99_ms: round(histPercentile([...churn.hist.sotw.map((v, i) => v + churn.hist.delta[i]!)], 99)),
    churn_delta_kb_per_change: round(ch.kbPerChange.delta, 3),
    churn_cp_cpu_s: round(cpuS(cBefore, cAfter), 2),
    ...(scale.length === 2
      ? {
          scale_services: scale.map((x) => x.services),
          scale_delta_kb_per_change: scale.map((x) => round(x.kbPerChange.delta, 3)),
          scale_sotw_kb_per_change: scale.map((x) => round(x.kbPerChange.sotw, 3)),
        }
      : {}),
  };
  if (profiles.length > 0) out(`control-plane CPU profiles (open in Chrome DevTools): ${profiles.join(' ')}`);
  out(JSON.stringify(json));
}

function churnSummary(churn: ChurnOutcome, bytes: Record<ClientKind, ByteCount>) {
  const perChange = churn.maxMs.filter((m) => m >= 0);
  const per = (b: ByteCount, n: number): number => (b.clients === 0 ? Number.NaN : b.bytes / b.clients / n / 1024);
  return {
    perChange,
    unconverged: churn.maxMs.length - perChange.length,
    // A change some client never got counts as the worst.
    p99: percentile(churn.maxMs.map((m) => (m < 0 ? Number.POSITIVE_INFINITY : m)), 99),
    kbPerChange: { sotw: per(bytes.sotw, churn.changes), delta: per(bytes.delta, churn.changes) },
    kbPerPublish: { sotw: per(bytes.sotw, churn.publishes), delta: per(bytes.delta, churn.publishes) },
  };
}

try {
  await main();
  await cleanup();
} catch (err) {
  process.stderr.write(`control-plane benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await cleanup();
  process.exitCode = 1;
}
