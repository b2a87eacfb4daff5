/**
 * Scenario 8, certificate rotation under load, then the CA down past expiry.
 * Two services, each a real process under init() with mTLS strict and a
 * workload token minted by the control plane's CA (test/chaos/lib/mtls-service.ts):
 * reviews calls ratings at 50 calls/s, every call on a new connection (the
 * client closes after each call and ratings answers `connection: close`), so
 * every call is a handshake, while both renew short-lived certificates at
 * half-life. Then the control plane (the CA) is stopped and stays down past
 * the certificates' expiry.
 *
 * Pass: 0 handshake failures and 0 failed calls across every rotation; with
 * the CA down past expiry, calls fail closed with ENMESH_ERR_SVID_UNAVAILABLE,
 * and the metrics endpoint shows it: enmesh_cert_expiry_seconds{principal} ≤ 0
 * and enmesh_mtls_refusals_total{reason="svid-unavailable"} rising. Default:
 * 4 s certificates (a rotation about every 2 s) for 30 s; ENMESH_CHAOS_FULL=1:
 * 120 s certificates (about every 60 s) for 10 minutes.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlPlane } from '../../src/control-plane/server.ts';
import type { ControlPlane } from '../../src/control-plane/server.ts';
import { silentLogger } from '../../src/control-plane/log.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { report, scaled } from './lib/figures.ts';
import { whenReady } from '../helpers/ready-child.ts';
import { freePort } from '../helpers/free-port.ts';

const SERVICE = fileURLToPath(new URL('./lib/mtls-service.ts', import.meta.url));
const TTL_MS = scaled(4000, 120_000);
const RUN_MS = scaled(30_000, 600_000);
const RPS = 50;
const CLIENT_ID = 'spiffe://chaos.local/service/reviews';

interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  readonly control: number;
  readonly metrics: number;
  stderr(): string;
}

interface State {
  readonly ready: boolean;
  readonly renewals: number;
  readonly failures: number;
  readonly serials: number;
  readonly notAfter: number;
  readonly handshakes: number;
  readonly unverified: number;
  readonly meshErrors: readonly string[];
}

let file: MeshFile;
let cp: ControlPlane | undefined;
const services: Record<string, Service> = {};


async function startService(name: string, port: number): Promise<Service> {
  const control = await freePort();
  const metrics = await freePort();
  const child = spawn(process.execPath, [SERVICE], {
    env: {
      ...process.env,
      ENMESH_SERVICE: name,
      ENMESH_PORT: String(port),
      ENMESH_CONFIG: file.path,
      ENMESH_TOKEN: await cp!.ca!.mintToken(name),
      ENMESH_CA_URL: `http://127.0.0.1:${cp!.adminPort}`,
      ENMESH_METRICS_PORT: String(metrics),
      CONTROL_PORT: String(control),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = await whenReady(child, name);
  return { child, port, control, metrics, stderr };
}

/** GET on a service's control port, parsed as JSON; `timeoutMs` bounds the wait (a load runs for RUN_MS). */
async function control<T>(name: string, path: string, timeoutMs = 15_000): Promise<T> {
  const r = await request(`http://127.0.0.1:${services[name]!.control}${path}`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  return (await r.body.json()) as T;
}

async function metricsOf(name: string): Promise<string> {
  const r = await request(`http://127.0.0.1:${services[name]!.metrics}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return r.body.text();
}

/** The value of one series in a Prometheus text exposition, or undefined when it is absent. */
function series(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Sum of every series of a metric (0 when it has none). */
function total(text: string, name: string): number {
  let sum = 0;
  for (const l of text.split('\n')) if (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

beforeAll(async () => {
  const ratingsPort = await freePort();
  const reviewsPort = await freePort();
  file = await createMeshFile(`
mesh: { trustDomain: chaos.local, mtls: strict }
services:
  ratings: { protocol: http, port: 9080, endpoints: [{ address: "127.0.0.1:${ratingsPort}" }] }
  reviews: { protocol: http, port: 9080, endpoints: [{ address: "127.0.0.1:${reviewsPort}" }] }
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: TTL_MS } });
  services.ratings = await startService('ratings', ratingsPort);
  services.reviews = await startService('reviews', reviewsPort);
});

afterAll(async () => {
  await Promise.all(
    Object.values(services).map(async (s) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const exited = new Promise((r) => s.child.once('exit', r));
      s.child.kill('SIGTERM');
      const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }),
  );
  await cp?.close();
  await file?.remove();
});

it(`rotates certificates every ~${TTL_MS / 2000} s for ${RUN_MS / 1000} s under load with 0 handshake failures, then fails closed`, async () => {
  const before = { ratings: await control<State>('ratings', '/state'), reviews: await control<State>('reviews', '/state') };
  expect(before.ratings.ready && before.reviews.ready).toBe(true);

  // reviews → ratings through reviews' mesh, RPS calls/s for RUN_MS, each on a new connection.
  const load = await control<{ ok: number; failed: number; errors: string[] }>(
    'reviews',
    `/load?url=${encodeURIComponent('http://ratings:9080/')}&rps=${RPS}&ms=${RUN_MS}&expect=${encodeURIComponent(CLIENT_ID)}`,
    RUN_MS + 60_000,
  );
  const after = { ratings: await control<State>('ratings', '/state'), reviews: await control<State>('reviews', '/state') };
  const serverMetrics = await metricsOf('ratings');
  const refusals = total(serverMetrics, 'enmesh_mtls_refusals_total');
  const handshakes = after.ratings.handshakes - before.ratings.handshakes;
  const rotations = after.ratings.renewals - before.ratings.renewals + (after.reviews.renewals - before.reviews.renewals);

  // The CA goes away and stays away past the client's certificate expiry: renewals fail, then mTLS fails closed.
  const caDownAt = Date.now();
  await cp!.close();
  cp = undefined;
  const expiresAt = (await control<State>('reviews', '/state')).notAfter;
  let down = await control<State>('reviews', '/state');
  // Bounded: the certificate's remaining life plus slack for a loaded machine.
  while (down.ready && Date.now() < expiresAt + 10_000) {
    await new Promise((r) => setTimeout(r, 200));
    down = await control<State>('reviews', '/state');
  }
  const expiredAfterMs = Date.now() - caDownAt;
  const failClosed = await control<{ status?: number; error?: { code: string; message: string; cause: string } }>('reviews', `/call?url=${encodeURIComponent('http://ratings:9080/')}`);
  // The metrics are copied from the certificate once a second; a second call, for a rising counter.
  await new Promise((r) => setTimeout(r, 1500));
  const closedMetrics1 = await metricsOf('reviews');
  await control('reviews', `/call?url=${encodeURIComponent('http://ratings:9080/')}`);
  await new Promise((r) => setTimeout(r, 1500));
  const closedMetrics2 = await metricsOf('reviews');
  const later = await control<State>('reviews', '/state');
  const expirySeconds = series(closedMetrics2, 'enmesh_cert_expiry_seconds', `principal="${CLIENT_ID}"`);
  const svidRefusals1 = series(closedMetrics1, 'enmesh_mtls_refusals_total', 'reason="svid-unavailable"') ?? 0;
  const svidRefusals2 = series(closedMetrics2, 'enmesh_mtls_refusals_total', 'reason="svid-unavailable"') ?? 0;
  const failText = `${failClosed.error?.code ?? ''} ${failClosed.error?.message ?? ''} ${failClosed.error?.cause ?? ''}`;

  report('8', {
    ttlMs: TTL_MS,
    runMs: RUN_MS,
    requests: load.ok + load.failed,
    failed: load.failed,
    handshakes,
    peerRefusals: refusals,
    unverifiedCalls: after.ratings.unverified,
    rotations,
    renewalFailuresWhileCaDown: later.failures - after.reviews.failures,
    failClosedAfterCaDownMs: expiredAfterMs,
    certExpirySeconds: expirySeconds ?? 'absent',
    svidUnavailableRefusals: svidRefusals2,
  });
  console.log(`CHAOS scenario=8 fail-closed error: ${failText}`);
  console.log(`CHAOS scenario=8 mesh error event: ${later.meshErrors.find((m) => /expired/.test(m)) ?? 'none'}`);

  // Under rotation: every call succeeded with the caller's verified identity, and each was its own
  // handshake (a failed handshake is a failed call, and would not be counted by the server).
  expect(load.errors).toEqual([]);
  expect(load.failed).toBe(0);
  expect(load.ok).toBe(Math.floor((RPS * RUN_MS) / 1000));
  expect(handshakes).toBe(load.ok);
  expect(refusals).toBe(0);
  expect(after.ratings.unverified).toBe(0);
  // Both services renewed at 40..60 % of each certificate's life, several times (bounds: the machine is shared).
  expect(rotations).toBeGreaterThanOrEqual(2 * Math.floor(RUN_MS / (TTL_MS * 0.6)) - 2);
  expect(after.reviews.serials).toBeGreaterThanOrEqual(Math.floor(RUN_MS / (TTL_MS * 0.6)));

  // CA down past expiry: fail closed, with a clear error, an error event and the metrics.
  expect(down.ready).toBe(false);
  expect(later.failures).toBeGreaterThan(after.reviews.failures);
  expect(failClosed.status).toBeUndefined();
  expect(failText).toMatch(/ENMESH_ERR_SVID_UNAVAILABLE/);
  expect(failText).toMatch(/expired/);
  expect(later.meshErrors.some((m) => /expired .* mTLS is refused until the CA answers again/.test(m))).toBe(true);
  expect(expirySeconds).toBeDefined();
  expect(expirySeconds!).toBeLessThanOrEqual(0);
  expect(svidRefusals1).toBeGreaterThanOrEqual(1);
  expect(svidRefusals2).toBeGreaterThan(svidRefusals1);
});
