/**
 * `npm run demo [-- --duration 15] [-- --rate 40] [-- --file-mode] [-- --canary-step 5]`
 *
 * Starts `enmesh control-plane` with examples/bookinfo/mesh.yaml, then the
 * bookinfo services (productpage → details, reviews v1/v2 → ratings over
 * gRPC), each its own process under `--import enmesh/register`, registering
 * itself. Once every instance is registered it drives load at productpage by
 * service name and prints a live table per instance. With --duration it prints
 * a final summary (and a `DEMO_SUMMARY {json}` line) and exits 0 when traffic
 * was healthy. --file-mode runs the same without a control plane; see
 * docs/examples.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init, type Mesh } from 'enmesh';
import { configError, servedEndpoints, startControlPlane, type ControlPlaneProcess } from './demo/control-plane.ts';
import { address, bookinfoInstances, label } from './demo/instances.ts';
import { LoadDriver, warmUp } from './demo/load.ts';
import { setReviewsSplit, writeMeshFile } from './demo/mesh-file.ts';
import { parseDemoArgs } from './demo/options.ts';
import { freePort, Supervisor, until } from './demo/processes.ts';
import { describeSplit, InstanceStats, RecentSplit, renderRows, type Row } from './demo/table.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const bookinfo = join(here, 'bookinfo');
const out = (text: string): boolean => process.stdout.write(`${text}\n`);
/** On a terminal the table redraws every second; otherwise it is printed every 5 s. */
const tty = process.stdout.isTTY === true;

const parsed = parseDemoArgs(process.argv.slice(2));
if ('usage' in parsed) {
  if (parsed.error !== undefined) process.stderr.write(`demo: ${parsed.error}\n\n${parsed.usage}`);
  else process.stdout.write(parsed.usage);
  process.exit(parsed.error === undefined ? 0 : 2);
}
const options = parsed;
/** The reviews split the canary walks through, one step every --canary-step seconds. */
const CANARY_STEPS: readonly Readonly<Record<string, number>>[] = [
  { v1: 80, v2: 20 },
  { v1: 50, v2: 50 },
  { v1: 20, v2: 80 },
  { v1: 50, v2: 50 },
];

// The control plane (a child) takes its admin token from here; the dashboard URL carries it.
const adminToken = (process.env.ENMESH_ADMIN_TOKEN ||= randomBytes(18).toString('base64url'));
const dashboardUrl = (adminUrl: string): string => `${adminUrl}/#token=${encodeURIComponent(adminToken)}`;

const workdir = await mkdtemp(join(tmpdir(), 'enmesh-demo-'));
const meshFile = join(workdir, 'mesh.yaml');
const instances = bookinfoInstances();
const load = new LoadDriver();
const timers: NodeJS.Timeout[] = [];
let mesh: Mesh | undefined;
let cp: ControlPlaneProcess | undefined;

const supervisor = new Supervisor((name, how) => {
  process.stderr.write(`demo: ${name} exited unexpectedly (${how})\n`);
  if (name === 'control plane' && cp !== undefined) process.stderr.write(`${cp.logTail()}\n`);
  void shutdown(1);
});

let shuttingDown: Promise<never> | undefined;
function shutdown(code: number): Promise<never> {
  shuttingDown ??= (async () => {
    for (const t of timers) clearInterval(t);
    await load.stop(0);
    await mesh?.close();
    await supervisor.stop();
    await rm(workdir, { recursive: true, force: true });
    process.exit(code);
  })();
  return shuttingDown;
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(143));

async function fail(err: unknown): Promise<never> {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
  return shutdown(1);
}

// ---- 1. ports, and the demo's own copy of mesh.yaml ------------------------
for (const inst of instances) {
  inst.port = await freePort();
  inst.statsPort = inst.protocol === 'http' ? inst.port : await freePort();
}
const ratings = instances.find((i) => i.service === 'ratings')!;
await writeMeshFile(
  meshFile,
  await readFile(join(bookinfo, 'mesh.yaml'), 'utf8'),
  // In local-file mode nothing registers, so the file must name every instance.
  options.fileMode ? instances.map((i) => ({ service: i.service, address: address(i), labels: { version: i.version } })) : [],
);

// ---- 2. the control plane, then the services -------------------------------
try {
  if (!options.fileMode) {
    cp = await startControlPlane(supervisor, root, meshFile);
    out(`control plane: xds ${cp.xdsAddress} · admin API: ${cp.adminUrl}/api/v1/services`);
    out(`dashboard: ${dashboardUrl(cp.adminUrl)}`);
  }
  for (const inst of instances) {
    const source = cp
      ? { ENMESH_CONTROL_PLANE: `xds://${cp.xdsAddress}`, ENMESH_CONFIG: '' }
      : // No control plane to resolve xds:///ratings: reviews v2 dials ratings directly.
        { ENMESH_CONFIG: meshFile, ENMESH_CONTROL_PLANE: '', RATINGS_TARGET: address(ratings) };
    supervisor.spawn(label(inst), ['--conditions=enmesh-source', '--import', 'enmesh/register', join(bookinfo, inst.file)], {
      cwd: root,
      env: {
        ...process.env,
        ENMESH_SERVICE: inst.service,
        ENMESH_PORT: String(inst.port),
        ENMESH_LABELS: `version=${inst.version}`,
        STATS_PORT: String(inst.statsPort),
        ...source,
      },
      // ipc: a service sees the demo go away even if the demo is killed outright.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
  }
  await Promise.all(
    instances.map((i) =>
      until(
        async () => ((await fetch(`http://127.0.0.1:${i.statsPort}/healthz`)).ok ? true : undefined),
        20_000,
        `${label(i)} did not become healthy on port ${i.statsPort}`,
      ),
    ),
  );
  if (cp) {
    const adminUrl = cp.adminUrl;
    await until(
      async () => {
        const served = await servedEndpoints(adminUrl);
        const registered = (a: string, service: string): boolean => served.get(service)?.some((e) => e.address === a && e.origin === 'registered') ?? false;
        return instances.every((i) => registered(address(i), i.service)) ? true : undefined;
      },
      20_000,
      'not every instance registered with the control plane',
    );
    out(`registered with the control plane: ${instances.map((i) => `${label(i)}@${address(i)}`).join(' ')}`);
  } else {
    out(`bookinfo is up (local-file mode): ${instances.map((i) => `${label(i)}@${address(i)}`).join(' ')}`);
  }

  // ---- 3. this process joins the mesh too, and calls productpage by name ----
  mesh = await init({
    ...(cp ? { controlPlane: `xds://${cp.xdsAddress}` } : { config: meshFile }),
    hooks: { undici: true, http: false, grpc: false },
  });
  await Promise.race([
    mesh.ready,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no mesh config arrived within 15 s')), 15_000).unref()),
  ]);
  const warmUpMs = await warmUp(20_000);
  out(`the whole call graph answers (warm-up ${warmUpMs.toFixed(0)} ms)`);
} catch (err) {
  await fail(err);
}

// ---- 4. load, the live table, canary steps ---------------------------------
const meshNow = mesh!;
let meshError: string | null = null;
meshNow.on('error', (err) => (meshError = err.message));
// With a control plane, its admin API says whether the file is in force; here, the next good config does.
if (!cp) meshNow.on('config', () => (meshError = null));
const stats = new InstanceStats(instances);
await stats.markBaseline().catch(fail);
const started = performance.now();
load.start(options.rate);
out(`driving ${options.rate} requests/s at http://productpage:9080/productpage${options.durationS === Infinity ? ' (Ctrl-C to stop)' : ` for ${options.durationS} s`}`);
out(`mesh.yaml in use: ${meshFile} (edit it while the demo runs: changes go live)`);

let nextStepAt = Infinity;
if (options.canaryStepS !== undefined) {
  const everyMs = options.canaryStepS * 1000;
  let step = 0;
  nextStepAt = started + everyMs;
  timers.push(
    setInterval(() => {
      step = (step + 1) % CANARY_STEPS.length;
      nextStepAt = performance.now() + everyMs;
      const weights = CANARY_STEPS[step]!;
      setReviewsSplit(meshFile, weights).then(
        () => tty || out(`canary step: reviews ${Object.entries(weights).map(([v, w]) => `${v} ${w}`).join(' / ')} written to mesh.yaml`),
        (err: Error) => (meshError = err.message),
      );
    }, everyMs),
  );
}

/** Where the mesh knows each address from: the control plane's endpoint list, or the static file. */
async function origins(): Promise<(a: string) => string> {
  // gRPC goes around the mesh in local-file mode (reviews v2 dials ratings directly).
  if (!cp) return (a) => (a === address(ratings) ? 'direct' : 'static');
  const served = await servedEndpoints(cp.adminUrl).catch(() => new Map<string, readonly { address: string; origin: string }[]>());
  const byAddress = new Map([...served.values()].flat().map((e) => [e.address, e.origin] as const));
  return (a) => byAddress.get(a) ?? 'missing';
}

/** The reviews weights in force in this process's config, i.e. what the mesh has actually delivered. */
function weightsInForce(): string {
  const route = meshNow.config()?.services.get('reviews')?.routes.find((r) => r.name === 'default');
  return route?.backends?.map((b) => `${b.subset ?? 'all'} ${b.weight}`).join(' / ') ?? '?';
}

const split = new RecentSplit(5);
function render(rows: readonly Row[], final: boolean): string {
  const elapsed = ((performance.now() - started) / 1000).toFixed(0);
  const lines = [
    `enmesh demo · ${cp ? 'control plane' : 'local-file mode'} · ${elapsed} s · sent ${load.sent}, ok ${load.ok}, failed ${load.failed} · mesh config ${meshNow.config()?.version ?? '?'}`,
    cp
      ? `dashboard: ${dashboardUrl(cp.adminUrl)}  · admin API: ${cp.adminUrl}/api/v1/services`
      : `config: ${meshFile} (read and watched by every process)`,
    ...renderRows(rows),
    final
      ? `reviews answered by: ${describeSplit(load.answeredBy)}`
      : `reviews answered by (last 5 s): ${split.describe()}    weights in force: ${weightsInForce()}${
          nextStepAt === Infinity ? '' : ` · next canary step in ${Math.max(0, (nextStepAt - performance.now()) / 1000).toFixed(0)} s`
        }`,
  ];
  if (meshError !== null) lines.push(`config problem: ${meshError}`);
  return lines.join('\n');
}

let ticks = 0;
let busy = false;
timers.push(
  setInterval(() => {
    split.push(load.answeredBy);
    if (busy) return; // a slow poll: skip a redraw rather than pile them up
    busy = true;
    ticks++;
    void (async () => {
      try {
        if (cp) meshError = await configError(cp.adminUrl).catch(() => meshError);
        const rows = await stats.poll(await origins());
        if (tty) process.stdout.write(`\x1b[2J\x1b[H${render(rows, false)}\n`);
        else if (ticks % 5 === 0) out(`${render(rows, false)}\n`);
      } finally {
        busy = false;
      }
    })();
  }, 1000),
);

// ---- 5. with --duration: summary, then a clean stop ------------------------
if (options.durationS !== Infinity) {
  await new Promise((r) => setTimeout(r, options.durationS * 1000));
  await load.stop();
  for (const t of timers) clearInterval(t);
  while (busy) await new Promise((r) => setTimeout(r, 20)); // a redraw still polling would print after the summary
  const rows = await stats.poll(await origins(), true);
  out(`\nfinal summary\n${render(rows, true)}`);
  const successRate = load.sent === 0 ? 0 : load.ok / load.sent;
  const registered = rows.filter((r) => r.origin === 'registered').length;
  const summary = {
    mode: cp ? 'control-plane' : 'file',
    sent: load.sent,
    ok: load.ok,
    failed: load.failed,
    successRate,
    answeredBy: load.answeredBy,
    registered,
    adminUrl: cp?.adminUrl ?? null,
    services: rows,
  };
  out(`DEMO_SUMMARY ${JSON.stringify(summary)}`);
  const healthy = successRate >= 0.95 && (!cp || registered === rows.length);
  await shutdown(healthy ? 0 : 1);
}
