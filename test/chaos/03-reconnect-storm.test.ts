/**
 * Scenario 3, 200 clients reconnecting after a control-plane restart: 200 xDS
 * clients (the SDK's XdsClient, in this process) hold streams to `enmesh
 * control-plane`, which is SIGKILLed and started again on the same port.
 *
 * Pass (issue): backoff ×1.6 with ±20 % jitter; no 1 s window holds > 20 % of
 * the reconnects. Asserted here: every client's reconnect delays follow
 * 1 s × 1.6ⁿ (capped at 4 s) within ±20 %, the jitter really spreads them,
 * every client comes back, and the busiest 1 s window is no worse than that
 * schedule allows (a Monte-Carlo run of the same schedule, outage and restart
 * time). The
 * issue's 20 % figure is measured and reported; docs/reliability.md explains
 * why a ±20 % jitter capped at 4 s cannot meet it.
 * Default outage 20 s; ENMESH_CHAOS_FULL=1: 60 s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { XdsClient } from '../../src/xds/client/ads-client.ts';
import { DEFAULT_BACKOFF } from '../../src/xds/client/backoff.ts';
import { startBackend } from '../helpers/http-backend.ts';
import type { Backend } from '../helpers/http-backend.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { spawnControlPlane } from '../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../helpers/cp/control-plane-process.ts';
import { sleep, until } from '../helpers/cp/wait.ts';
import { seeded } from '../helpers/seeded.ts';
import { report, scaled } from './lib/figures.ts';

const CLIENTS = 200;
const OUTAGE_MS = scaled(20_000, 60_000);

let backend: Backend;
let file: MeshFile;
const cps: ControlPlaneProcess[] = [];
const clients: XdsClient[] = [];

interface Track {
  connectedAt: number[];
  /** Reconnect delays announced by the client, in order. */
  delays: number[];
}

/** Busiest 1 s window of sorted times, as a share of all. */
function busiestSecond(times: readonly number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best / t.length;
}

/**
 * The same schedule simulated. The restarted process was spawned `spawnMs` and
 * was serving `servingMs` after the streams broke; an attempt made while it
 * was starting may sit in the listen backlog and complete once it serves (the
 * worst case is assumed: the port bound at once).
 */
function simulateBusiestSecond(spawnMs: number, servingMs: number, trials: number): number[] {
  const random = seeded(3);
  const { initialMs, multiplier, jitter, maxMs } = DEFAULT_BACKOFF;
  const out: number[] = [];
  for (let k = 0; k < trials; k++) {
    const times: number[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      let t = 0;
      let base = initialMs;
      while (t < spawnMs) {
        t += base * (1 + jitter * (random() * 2 - 1));
        base = Math.min(base * multiplier, maxMs);
      }
      times.push(Math.max(t, servingMs));
    }
    out.push(busiestSecond(times));
  }
  return out.sort((a, b) => a - b);
}

beforeAll(async () => {
  backend = await startBackend('v1');
  file = await createMeshFile(`services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: "${backend.address}" }]\n`);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(cps.map((c) => c.kill()));
  await file?.remove();
  await backend?.close();
});

it(`${CLIENTS} clients reconnect on a jittered x1.6 backoff after a ${OUTAGE_MS / 1000} s outage`, async () => {
  const first = await spawnControlPlane({ config: file.path });
  cps.push(first);
  const tracks: Track[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const track: Track = { connectedAt: [], delays: [] };
    tracks.push(track);
    const c = new XdsClient({ servers: [`127.0.0.1:${first.xdsPort}`], node: { id: `storm~${i}~${process.pid}` }, mode: i % 2 === 0 ? 'delta' : 'sotw' });
    c.on('connected', () => track.connectedAt.push(Date.now()));
    c.on('warning', (w) => {
      const m = / in (\d+) ms$/.exec(w.message);
      if (m !== null) track.delays.push(Number(m[1]));
    });
    c.on('model', () => {});
    clients.push(c.start());
  }
  await Promise.all(clients.map((c) => c.ready()));

  const killedAt = Date.now();
  await first.kill('SIGKILL');
  await sleep(OUTAGE_MS);
  const spawnedAt = Date.now();
  const second = await spawnControlPlane({ config: file.path, xdsPort: first.xdsPort, adminPort: first.adminPort });
  cps.push(second);
  const restartedAt = Date.now();
  await until(() => tracks.every((t) => t.connectedAt.some((at) => at >= restartedAt)), 30_000, 'every client reconnected', 100);
  const reconnects = tracks.map((t) => t.connectedAt.find((at) => at >= restartedAt)! - restartedAt);
  // Each client's first `connected` after the restart comes from its first attempt after it (the
  // schedule in `delays` ends there); any delay announced later belongs to no outage.
  const share = busiestSecond(reconnects);
  const sim = simulateBusiestSecond(spawnedAt - killedAt, restartedAt - killedAt, 200);
  const simP99 = sim[Math.floor(sim.length * 0.99)]!;

  // Backoff: delay n is 1 s × 1.6ⁿ (capped at 4 s) ± 20 %.
  let checked = 0;
  const firstRatios: number[] = [];
  for (const t of tracks) {
    let base = DEFAULT_BACKOFF.initialMs;
    for (const d of t.delays) {
      expect(d / base).toBeGreaterThanOrEqual(0.8 - 0.001);
      expect(d / base).toBeLessThanOrEqual(1.2 + 0.001);
      checked++;
      base = Math.min(base * DEFAULT_BACKOFF.multiplier, DEFAULT_BACKOFF.maxMs);
    }
    firstRatios.push(t.delays[0]! / DEFAULT_BACKOFF.initialMs);
  }
  const spanOfFirst = Math.max(...firstRatios) - Math.min(...firstRatios);
  const spreadMs = Math.max(...reconnects) - Math.min(...reconnects);
  report('3', {
    clients: CLIENTS,
    outageMs: restartedAt - killedAt,
    restartTookMs: restartedAt - spawnedAt,
    reconnected: reconnects.length,
    delaysChecked: checked,
    firstDelaySpread: spanOfFirst,
    reconnectSpreadMs: spreadMs,
    lastReconnectMs: Math.max(...reconnects),
    busiestSecondShare: share,
    scheduleBusiestSecondP99: simP99,
    issueFigureMet: share <= 0.2,
  });
  expect(reconnects).toHaveLength(CLIENTS);
  expect(checked).toBeGreaterThan(CLIENTS * 3);
  // ±20 % is used, not a fixed delay: the first delays cover most of 0.8..1.2.
  expect(spanOfFirst).toBeGreaterThan(0.3);
  // No lock step beyond what the schedule itself produces (machine noise: +5 points).
  expect(share).toBeLessThanOrEqual(simP99 + 0.05);
  expect(Math.max(...reconnects)).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs * 1.2 + 1000);
});
