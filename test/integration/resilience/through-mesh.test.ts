/**
 * The resilience policies as an application sees them through the mesh, with
 * real backends: fault injection, rate limiting, concurrency overflow, the
 * connection limit, the circuit breaker and outlier ejection.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { init, type Mesh } from '../../../src/index.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { abortableClients, runMany } from '../../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let good1: Backend;
let good2: Backend;
let bad: Backend;
let mesh: Mesh;
let file: MeshFile;
let counting: CountingServers;

/** Slow servers that count the requests in flight on all of them together, and each one's sockets. */
interface CountingServers {
  readonly addresses: string[];
  inFlight: number;
  peak: number;
  readonly sockets: number[];
  close(): Promise<void>;
}

async function startCountingServers(n: number, delayMs: number): Promise<CountingServers> {
  const servers: http.Server[] = [];
  const state: CountingServers = {
    addresses: [],
    inFlight: 0,
    peak: 0,
    sockets: [],
    close: () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())).finally(() => s.closeAllConnections()))).then(() => undefined),
  };
  for (let i = 0; i < n; i++) {
    state.sockets.push(0);
    const server = http.createServer((req, res) => {
      state.inFlight++;
      state.peak = Math.max(state.peak, state.inFlight);
      req.resume();
      setTimeout(() => {
        state.inFlight--;
        res.end('ok');
      }, delayMs);
    });
    server.on('connection', () => state.sockets[i]!++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    state.addresses.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  return state;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; flags: unknown; retryAfter: unknown; body: string }> {
  const res = await request(url, { headers });
  const body = await res.body.text();
  return { status: res.statusCode, flags: res.headers['x-enmesh-response-flags'], retryAfter: res.headers['retry-after'], body };
}

beforeAll(async () => {
  [good1, good2, bad] = await Promise.all([startBackend('good1'), startBackend('good2'), startBackend('bad')]);
  counting = await startCountingServers(2, 150);
  file = await createMeshFile(`
services:
  faulty:
    protocol: http
    port: 8080
    endpoints: [{ address: ${good1.address} }]
    routes:
      - name: abort
        match: { path: { prefix: /abort } }
        fault: { abort: { percent: 30, status: 503 } }
      - name: delay
        match: { path: { prefix: /delay } }
        fault: { delay: { percent: 100, duration: 100ms } }
      - name: gated
        match: { path: { prefix: /gated } }
        fault: { abort: { percent: 100, status: 418 }, header: x-enmesh-fault }
  limited:
    protocol: http
    port: 8080
    endpoints: [{ address: ${good1.address} }]
    rateLimit: { requestsPerSecond: 20, burst: 5 }
  pool:
    protocol: http
    port: 8080
    endpoints: [{ address: ${good2.address} }]
    connectionPool: { maxRequests: 2, maxPendingRequests: 2 }
  conns:
    protocol: http
    port: 8080
    loadBalancer: round-robin
    endpoints: [{ address: ${counting.addresses[0]} }, { address: ${counting.addresses[1]} }]
    connectionPool: { maxConnections: 3 }
  oneconn:
    protocol: http
    port: 8080
    endpoints: [{ address: ${counting.addresses[0]} }]
    connectionPool: { maxConnections: 1, maxPendingRequests: 1 }
  breaking:
    protocol: http
    port: 8080
    endpoints: [{ address: ${bad.address} }]
    circuitBreaker: { errorThresholdPercent: 50, volumeThreshold: 10, window: 10s, resetTimeout: 500ms }
  ejecting:
    protocol: http
    port: 8080
    loadBalancer: round-robin
    endpoints:
      - { address: ${good1.address} }
      - { address: ${good2.address} }
      - { address: ${bad.address} }
    outlierDetection: { consecutive5xx: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
    routes:
      - retries: { attempts: 2, on: [5xx], backoff: { base: 1ms, max: 2ms }, budget: { percent: 100, minPerSecond: 1000 } }
`);
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  await Promise.all([good1?.close(), good2?.close(), bad?.close(), counting?.close()]);
  await file?.remove();
});

beforeEach(() => {
  for (const b of [good1, good2, bad]) b.reset();
});

describe('fault injection', () => {
  it('aborts about the configured share of requests, flagged FI, without reaching the backend', async () => {
    const replies = await runMany(2000, 50, () => get('http://faulty:8080/abort'));
    const aborted = replies.filter((r) => r.status === 503);
    expect(aborted.length / 2000).toBeGreaterThan(0.27);
    expect(aborted.length / 2000).toBeLessThan(0.33);
    expect(aborted.every((r) => r.flags === 'FI')).toBe(true);
    expect(good1.seen.length).toBe(2000 - aborted.length);
  });

  it('delays requests and flags them DI', async () => {
    const started = performance.now();
    const r = await get('http://faulty:8080/delay');
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(r.status).toBe(200);
    expect(r.flags).toBe('DI');
  });

  it('applies a header-gated fault only to requests carrying the header', async () => {
    expect((await get('http://faulty:8080/gated')).status).toBe(200);
    expect((await get('http://faulty:8080/gated', { 'x-enmesh-fault': '1' })).status).toBe(418);
  });
});

describe('limits', () => {
  it('rate limits with 429, RL and Retry-After, without queuing', async () => {
    const replies = await runMany(40, 40, () => get('http://limited:8080/'));
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(30); // a burst of 5 passes, the rest is refused at once
    expect(limited[0]!.flags).toBe('RL');
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('fails fast past maxRequests + maxPendingRequests with 503 UO', async () => {
    good2.delay(300);
    const started = performance.now();
    const replies = await runMany(10, 10, () => get('http://pool:8080/'));
    good2.delay(0);
    const overflow = replies.filter((r) => r.status === 503 && r.flags === 'UO');
    expect(overflow.length).toBe(6); // 2 in flight + 2 queued, 6 refused
    expect(replies.filter((r) => r.status === 200)).toHaveLength(4);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(good2.seen.length).toBe(4);
  });
});

describe('connection limit', () => {
  it('keeps the connections in use to a service at maxConnections, all endpoints together: the rest wait', async () => {
    counting.peak = 0;
    const started = performance.now();
    const replies = await runMany(12, 12, () => get('http://conns:8080/'));
    expect(replies.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(counting.peak).toBe(3);
    // 12 calls, 3 at a time, 150 ms each: four waves.
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 150 - 20);
    for (const n of counting.sockets) expect(n).toBeLessThanOrEqual(3);
    expect(mesh.policies()).toMatchObject({ services: { conns: { concurrency: { maxConnections: 3, active: 0, pending: 0, counters: { admitted: 12, queued: 9, overflow: 0 } } } } });
  });

  it('fails fast past maxConnections + maxPendingRequests with 503 UO, naming the limit', async () => {
    const replies = await runMany(4, 4, () => get('http://oneconn:8080/'));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(2);
    const overflow = replies.filter((r) => r.status === 503);
    expect(overflow).toHaveLength(2);
    expect(overflow[0]!.flags).toBe('UO');
    expect(overflow[0]!.body).toContain('maxConnections 1, maxPendingRequests 1');
  });
});

describe('application aborts', () => {
  // An abort used to reach the attempt only when the call was hedged: the slot stayed taken until the answer came.
  it('give the pool slot back at once, on every transport', async () => {
    for (const [name, send] of Object.entries(abortableClients)) {
      good2.delay(3000);
      const ac = new AbortController();
      const pending = [send('http://pool:8080/slow', ac.signal), send('http://pool:8080/slow', ac.signal)].map((p) => p.then(() => 'answered', () => 'aborted'));
      await sleep(100);
      ac.abort();
      expect(await Promise.all(pending), name).toEqual(['aborted', 'aborted']);
      good2.delay(0);
      const started = performance.now();
      const replies = await runMany(4, 4, () => get('http://pool:8080/'));
      expect(replies.map((r) => r.status), name).toEqual([200, 200, 200, 200]);
      expect(performance.now() - started, name).toBeLessThan(1000);
    }
  });
});

describe('circuit breaker', () => {
  it('opens against a failing backend, fails fast while open, and half-opens after the reset timeout', async () => {
    bad.failAll(500);
    const first = await runMany(20, 1, () => get('http://breaking:8080/'));
    const reachedWhileClosing = bad.seen.length;
    expect(first.filter((r) => r.flags === 'UO').length).toBeGreaterThan(0);
    expect(reachedWhileClosing).toBeLessThan(20);
    bad.failAll(0);
    await new Promise((r) => setTimeout(r, 600));
    const probe = await get('http://breaking:8080/');
    expect(probe.status).toBe(200); // half-open probe succeeds and closes it
    const after = await runMany(10, 2, () => get('http://breaking:8080/'));
    expect(after.every((r) => r.status === 200)).toBe(true);
  });
});

describe('outlier detection', () => {
  it('ejects the failing endpoint of three: it gets no traffic while ejected, and no client request fails', async () => {
    bad.failAll(503);
    const replies = await runMany(300, 10, () => get('http://ejecting:8080/'));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const badHits = bad.seen.length;
    expect(badHits).toBeLessThanOrEqual(6);
    await runMany(200, 10, () => get('http://ejecting:8080/'));
    expect(bad.seen.length).toBe(badHits); // still ejected: not one more request
    bad.failAll(0);
  });
});

describe('hedging and mirroring', () => {
  let slowTail: import('node:http').Server;
  let slowPort = 0;
  let slowCalls = 0;

  beforeAll(async () => {
    const http = await import('node:http');
    // Every 10th request to this endpoint is 300 ms late: a slow tail.
    slowTail = http.createServer((_req, res) => {
      const late = ++slowCalls % 10 === 0;
      setTimeout(() => res.end('tail'), late ? 300 : 0);
    });
    await new Promise<void>((r) => slowTail.listen(0, '127.0.0.1', r));
    slowPort = (slowTail.address() as import('node:net').AddressInfo).port;
  });

  afterAll(() => {
    slowTail?.closeAllConnections();
    slowTail?.close();
  });

  async function p99(url: string, n: number): Promise<number> {
    const times = await runMany(n, 4, async () => {
      const t = performance.now();
      await get(url);
      return performance.now() - t;
    });
    times.sort((a, b) => a - b);
    return times[Math.floor(n * 0.99) - 1]!;
  }

  it('cuts the p99 of a backend with a slow tail, and mirrors a share of traffic without affecting callers', async () => {
    const base = await (await import('node:fs/promises')).readFile(file.path, 'utf8');
    await file.apply(
      mesh,
      `${base}
  tail:
    protocol: http
    port: 8080
    endpoints:
      - { address: 127.0.0.1:${slowPort} }
      - { address: ${good1.address} }
    routes:
      - name: plain
        match: { path: { prefix: /plain } }
      - name: hedged
        match: { path: { prefix: /hedged } }
        hedge: { delay: 30ms, maxAttempts: 2 }
        retries: { attempts: 1, budget: { percent: 100, minPerSecond: 1000 } }
      - name: mirrored
        match: { path: { prefix: /mirrored } }
        backends: [{ service: tail }]
        mirror: { service: breaking, percent: 50 }
`,
    );
    const plain = await p99('http://tail:8080/plain', 200);
    const hedged = await p99('http://tail:8080/hedged', 200);
    expect(plain).toBeGreaterThan(250); // the tail shows without hedging
    expect(hedged).toBeLessThan(plain / 2); // and hedging cuts it

    bad.reset();
    bad.failAll(500); // the mirror target fails: callers must not notice
    const replies = await runMany(400, 10, () => get('http://tail:8080/mirrored'));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(bad.seen.length / 400).toBeGreaterThan(0.4);
    expect(bad.seen.length / 400).toBeLessThan(0.6);
    expect(bad.seen[0]!.headers.host).toBe('tail-shadow:8080'); // Envoy's shadow authority
    bad.failAll(0);
  });
});

describe('state and decisions for operators', () => {
  it('shows policy state in mesh.policies() and counts decisions as enmesh_* metrics', async () => {
    bad.reset();
    bad.failAll(503);
    await runMany(60, 5, () => get('http://ejecting:8080/'));
    await runMany(10, 5, () => get('http://faulty:8080/abort'));
    bad.failAll(0);
    const state = mesh.policies() as { services: Record<string, Record<string, unknown>> };
    const ejecting = state.services.ejecting!.outlierDetection as { ejected: { endpoint?: string; address?: string }[] };
    expect(ejecting.ejected.length).toBe(1);
    expect(JSON.stringify(ejecting.ejected[0])).toContain(String(bad.port));
    expect((state.services.breaking!.breaker as { state: string }).state).toBeDefined();
    expect((state.services.pool!.concurrency as object)).toBeDefined();
    const text = await mesh.metrics();
    expect(text).toMatch(/enmesh_retries_total\{destination_service="ejecting",route="[^"]+"\} \d+/);
    expect(text).toMatch(/enmesh_faults_injected_total\{destination_service="faulty",route="abort",kind="abort"\} \d+/);
    expect(text).toMatch(/enmesh_rate_limited_total\{destination_service="limited",scope="local"\} \d+/);
    expect(text).toMatch(/enmesh_outlier_ejections_total\{destination_service="ejecting"\} [1-9]/);
    expect(text).toMatch(/enmesh_outlier_ejected_endpoints\{destination_service="ejecting"\} 1/);
    expect(text).toMatch(/enmesh_circuit_breaker_state_changes_total\{destination_service="breaking",state="open"\} [1-9]/);
  });
});
