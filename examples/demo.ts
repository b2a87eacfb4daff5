/**
 * `npm run demo [-- --duration 15] [-- --rate 40]`
 *
 * Starts the bookinfo example (productpage → details, reviews v1/v2 → ratings)
 * as separate processes under enmesh, drives load at productpage by service
 * name, and prints a live table per service instance. With --duration it
 * prints a final summary and exits 0 when traffic was healthy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { init } from 'enmesh';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    rate: { type: 'string', default: '40' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  process.stdout.write('usage: npm run demo [-- --duration <seconds>] [-- --rate <requests per second>]\n');
  process.exit(0);
}
const durationS = args.duration === undefined ? Infinity : Number(args.duration);
const rate = Number(args.rate);
if (!(durationS > 0) || !(rate > 0 && rate <= 1000)) {
  process.stderr.write('demo: --duration must be a positive number of seconds and --rate 1..1000\n');
  process.exit(2);
}

interface Instance {
  readonly service: string;
  readonly version: string;
  readonly file: string;
  /** Port in examples/bookinfo/mesh.yaml, replaced by a free one. */
  readonly templatePort: number;
  port: number;
  child?: ChildProcess;
  last?: { requests: number; errors: number; at: number };
}

const instances: Instance[] = [
  { service: 'productpage', version: 'v1', file: 'productpage.ts', templatePort: 19080, port: 0 },
  { service: 'details', version: 'v1', file: 'details.ts', templatePort: 19081, port: 0 },
  { service: 'reviews', version: 'v1', file: 'reviews.ts', templatePort: 19082, port: 0 },
  { service: 'reviews', version: 'v2', file: 'reviews.ts', templatePort: 19083, port: 0 },
  { service: 'ratings', version: 'v1', file: 'ratings.ts', templatePort: 19084, port: 0 },
];

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  return port;
}

async function waitHealthy(inst: Instance, deadline: number): Promise<void> {
  while (performance.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${inst.port}/healthz`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${inst.service} ${inst.version} did not become healthy on port ${inst.port}`);
}

const workdir = await mkdtemp(join(tmpdir(), 'enmesh-demo-'));
const children: ChildProcess[] = [];
let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
  await rm(workdir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));

// 1. A mesh.yaml with free ports.
let yaml = await readFile(join(here, 'bookinfo', 'mesh.yaml'), 'utf8');
for (const inst of instances) {
  inst.port = await freePort();
  yaml = yaml.replaceAll(`127.0.0.1:${inst.templatePort}`, `127.0.0.1:${inst.port}`);
}
const meshFile = join(workdir, 'mesh.yaml');
await writeFile(meshFile, yaml);

// 2. The services, each its own process under enmesh.
for (const inst of instances) {
  const child = spawn(process.execPath, ['--conditions=enmesh-source', '--import', 'enmesh/register', join(here, 'bookinfo', inst.file)], {
    cwd: root,
    env: {
      ...process.env,
      ENMESH_SERVICE: inst.service,
      ENMESH_PORT: String(inst.port),
      ENMESH_LABELS: `version=${inst.version}`,
      ENMESH_CONFIG: meshFile,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  inst.child = child;
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`demo: ${inst.service} ${inst.version} exited (${signal ?? code})\n`);
      void shutdown(1);
    }
  });
}
const startDeadline = performance.now() + 20_000;
try {
  await Promise.all(instances.map((i) => waitHealthy(i, startDeadline)));
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  await shutdown(1);
}

// 3. This process joins the mesh too, and calls productpage by name.
const mesh = await init({ config: meshFile, hooks: { undici: true, http: false } });
process.stdout.write(`bookinfo is up: ${instances.map((i) => `${i.service}-${i.version}@${i.port}`).join(' ')}\n`);
process.stdout.write(`driving ${rate} requests/s at http://productpage:9080/productpage${durationS === Infinity ? ' (Ctrl-C to stop)' : ` for ${durationS} s`}\n`);

let sent = 0;
let ok = 0;
let failed = 0;
const answeredBy: Record<string, number> = {};
const started = performance.now();
const endAt = started + durationS * 1000;
const interval = 1000 / rate;
let inFlight = 0;

async function one(i: number): Promise<void> {
  inFlight++;
  try {
    const res = await fetch(`http://productpage:9080/productpage?user=u${i % 10}`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { reviews?: { version?: string } };
    if (res.status === 200) ok++;
    else failed++;
    const v = body.reviews?.version ?? 'none';
    answeredBy[v] = (answeredBy[v] ?? 0) + 1;
  } catch {
    failed++;
  } finally {
    inFlight--;
  }
}

const loadTimer = setInterval(() => {
  if (performance.now() >= endAt) return;
  if (inFlight >= 200) return; // bounded: never pile up requests against a stuck system
  void one(sent++);
}, interval);

interface Row {
  service: string;
  version: string;
  rps: number;
  success: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function poll(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const inst of instances) {
    try {
      const s = (await (await fetch(`http://127.0.0.1:${inst.port}/_stats`)).json()) as { requests: number; errors: number; latencies: number[] };
      const now = performance.now();
      const prev = inst.last ?? { requests: 0, errors: 0, at: started };
      const dReq = s.requests - prev.requests;
      const dErr = s.errors - prev.errors;
      inst.last = { requests: s.requests, errors: s.errors, at: now };
      const lat = [...s.latencies].sort((a, b) => a - b);
      rows.push({
        service: inst.service,
        version: inst.version,
        rps: dReq / ((now - prev.at) / 1000),
        success: dReq === 0 ? 100 : (100 * (dReq - dErr)) / dReq,
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
      });
    } catch {
      rows.push({ service: inst.service, version: inst.version, rps: 0, success: 0, p50: 0, p99: 0 });
    }
  }
  return rows;
}

function render(rows: Row[]): string {
  const total = Object.values(answeredBy).reduce((a, b) => a + b, 0) || 1;
  const split = Object.entries(answeredBy)
    .sort()
    .map(([v, n]) => `${v} ${((100 * n) / total).toFixed(1)}%`)
    .join('  ');
  const lines = [
    `enmesh demo — mesh config ${mesh.config()?.version ?? '?'} — ${((performance.now() - started) / 1000).toFixed(0)} s — sent ${sent}, ok ${ok}, failed ${failed}`,
    'SERVICE       VERSION    REQ/S   SUCCESS     P50 ms    P99 ms',
    ...rows.map(
      (r) =>
        `${r.service.padEnd(13)} ${r.version.padEnd(7)} ${r.rps.toFixed(1).padStart(7)} ${`${r.success.toFixed(1)}%`.padStart(9)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(9)}`,
    ),
    `reviews answered by: ${split}`,
  ];
  return lines.join('\n');
}

const tty = process.stdout.isTTY === true;
let ticks = 0;
const tableTimer = setInterval(() => {
  ticks++;
  void poll().then((rows) => {
    if (tty) process.stdout.write(`\x1b[2J\x1b[H${render(rows)}\n`);
    else if (ticks % 5 === 0) process.stdout.write(`${render(rows)}\n\n`);
  });
}, 1000);

if (durationS !== Infinity) {
  await new Promise((r) => setTimeout(r, durationS * 1000));
  clearInterval(loadTimer);
  const drainUntil = performance.now() + 6000;
  while (inFlight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
  clearInterval(tableTimer);
  for (const inst of instances) inst.last = undefined;
  const rows = await poll(); // since start: totals over the whole run
  process.stdout.write(`\nfinal summary\n${render(rows)}\n`);
  const successRate = sent === 0 ? 0 : ok / sent;
  const summary = { sent, ok, failed, successRate, answeredBy, services: rows.map((r) => ({ ...r })) };
  process.stdout.write(`DEMO_SUMMARY ${JSON.stringify(summary)}\n`);
  stopping = true;
  await mesh.close();
  await shutdown(successRate >= 0.95 ? 0 : 1);
}
