/**
 * Pacing of new ADS streams on a real control plane: streams over the limit end
 * with UNAVAILABLE before any resource work, are counted in /metrics, and the
 * SDK's client backs off and gets in once the window has room.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { main } from '../../../src/cli/main.ts';
import { captureIo, type CapturedIo } from '../../helpers/cli-io.ts';
import { XdsClient } from '../../../src/xds/client/ads-client.ts';
import { LISTENER } from '../../../src/xds/type-urls.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { RawAds } from '../../helpers/grpc-xds/raw-ads.ts';
import { startRatingsBackend } from '../../helpers/grpc-xds/server.ts';
import type { RatingsBackend } from '../../helpers/grpc-xds/server.ts';
import { spawnXdsClient } from '../../helpers/grpc-xds/spawn-client.ts';
import type { XdsClientRun } from '../../helpers/grpc-xds/spawn-client.ts';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

const YAML = `services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: "127.0.0.1:9081" }]\n`;
const PACED = /^control plane is admitting at most (\d+) new xDS streams per second; retry with backoff$/;

let h: Harness | undefined;
const raws: RawAds<'sotw' | 'delta'>[] = [];
const clients: XdsClient[] = [];
const runs: XdsClientRun[] = [];
const backends: RatingsBackend[] = [];

afterEach(async () => {
  for (const r of runs.splice(0)) r.stop();
  await Promise.all(backends.splice(0).map((b) => b.close()));
  for (const r of raws.splice(0)) r.close();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await h?.close();
  h = undefined;
});

/** Resolves once `check` holds, polling every 20 ms. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function open(port: number, kind: 'sotw' | 'delta', id: string): RawAds<'sotw' | 'delta'> {
  const raw = new RawAds(port, kind);
  raws.push(raw);
  if (kind === 'sotw') raw.send({ node: { id }, type_url: LISTENER, resource_names: [] });
  else raw.send({ node: { id }, type_url: LISTENER, resource_names_subscribe: [] });
  return raw;
}

async function pacedMetric(adminPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = /^enmesh_control_plane_xds_streams_paced_total (\d+)$/m.exec(text);
  if (m === null) throw new Error('enmesh_control_plane_xds_streams_paced_total missing from /metrics');
  return Number(m[1]);
}

describe('ADS stream admission', () => {
  it('admits the floor per second and ends the rest with UNAVAILABLE, SotW and delta alike', async () => {
    h = await startHarness(YAML, { startupHoldMs: 0, ca: false, xdsAdmission: { floor: 4, ratio: 0 } });
    const port = h.cp.xdsPort;
    const first = Array.from({ length: 4 }, (_, i) => open(port, 'sotw', `admission~${i}`));
    await Promise.all(first.map((r) => r.next((x) => x.type_url === LISTENER, 5000)));
    // Within the same second, both kinds over the limit are refused before any response.
    const paced = [open(port, 'delta', 'admission~4'), open(port, 'sotw', 'admission~5'), open(port, 'delta', 'admission~6'), open(port, 'sotw', 'admission~7')];
    await until(() => paced.every((r) => r.status !== undefined || r.responses.length > 0), 10_000, 'every stream answered or ended');
    for (const r of paced) {
      expect(r.status?.code).toBe(grpc.status.UNAVAILABLE);
      expect(r.status!.details).toMatch(PACED);
      expect(r.status!.details).toContain('at most 4 new');
      expect(r.responses).toHaveLength(0);
    }
    expect(first.every((r) => r.status === undefined)).toBe(true);
    // No record, no registration: only the admitted streams are clients.
    expect(h.cp.registry.size).toBe(4);
    expect(await pacedMetric(h.cp.adminPort)).toBe(4);

    // Once the window has moved on, a new stream gets in and is served.
    await new Promise((r) => setTimeout(r, 1200));
    const late = open(port, 'delta', 'admission~late');
    await late.next((r) => r.type_url === LISTENER, 5000);
    expect(late.status).toBeUndefined();
    expect(h.cp.registry.size).toBe(5);
  });

  it('lets more in as more are connected: max(floor, ratio × connected)', async () => {
    h = await startHarness(YAML, { startupHoldMs: 0, ca: false, xdsAdmission: { floor: 2, ratio: 0.5 } });
    const port = h.cp.xdsPort;
    // Rounds more than a window apart, each offering 12 streams. The limit is taken as each stream
    // arrives, counting the ones just admitted: 0 connected admit the floor (2); 2 → 2; with 4, the
    // third makes 6 connected and a limit of 3, so 3; with 7: 3, then 4 at 8 and 9, 5 at 10 and 11,
    // 6 at 12 (six in the window), the seventh would make 13 → still 6: refused.
    const OFFERED = 12;
    let connected = 0;
    const admittedPerRound: number[] = [];
    for (let round = 0; round < 4; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 1200));
      const batch = Array.from({ length: OFFERED }, (_, i) => open(port, 'delta', `grow~${round}~${i}`));
      await until(() => batch.every((r) => r.status !== undefined || r.responses.length > 0), 10_000, 'the batch answered or ended');
      const admitted = batch.filter((r) => r.responses.length > 0).length;
      admittedPerRound.push(admitted);
      connected += admitted;
    }
    expect(admittedPerRound).toEqual([2, 2, 3, 6]);
    expect(h.cp.registry.size).toBe(13);
    expect(await pacedMetric(h.cp.adminPort)).toBe(4 * OFFERED - 13);
  }, 60_000);

  it("is retried by the SDK's client on its growing backoff until the window has room", async () => {
    h = await startHarness(YAML, { startupHoldMs: 0, ca: false, xdsAdmission: { floor: 1, ratio: 0 } });
    const port = h.cp.xdsPort;
    const holder = open(port, 'sotw', 'holder');
    await holder.next((r) => r.type_url === LISTENER, 5000);
    const delays: number[] = [];
    const refusals: string[] = [];
    const client = new XdsClient({
      servers: [`127.0.0.1:${port}`],
      node: { id: 'paced-sdk' },
      backoff: { initialMs: 100, multiplier: 2, jitter: 0, maxMs: 800 },
    });
    client.on('warning', (w) => {
      const m = / in (\d+) ms$/.exec(w.message);
      if (m !== null) delays.push(Number(m[1]));
      if (w.message.includes('admitting at most 1 new xDS streams per second')) refusals.push(w.message);
    });
    let connectedEvents = 0;
    client.on('connected', () => connectedEvents++);
    client.on('model', () => {});
    clients.push(client.start());
    await client.ready();
    expect(client.status().connectedTo).toBe(`127.0.0.1:${port}`);
    // Refused at least once (the holder's second had not passed), each refusal a failed attempt
    // whose delay doubled from the first: the backoff did not reset.
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals[0]).toMatch(/UNAVAILABLE: control plane is admitting/);
    expect(delays.slice(0, 4)).toEqual([100, 200, 400, 800].slice(0, Math.min(4, delays.length)));
    expect(await pacedMetric(h.cp.adminPort)).toBe(refusals.length);
    expect(h.cp.registry.list().map((c) => c.nodeId).sort()).toEqual(['holder', 'paced-sdk']);
    expect(client.model?.services.has('reviews')).toBe(true);
    // The client's `connected` event means "channel up": it fires for a paced attempt too (before
    // the refusal ends it), so it counts attempts that reached the server, not admitted streams.
    expect(connectedEvents).toBeLessThanOrEqual(refusals.length + 1);
  });

  it('is retried by a grpc-js-xds client, which then gets its config and calls through', async () => {
    const v1 = await startRatingsBackend('v1');
    const v2 = await startRatingsBackend('v2');
    backends.push(v1, v2);
    h = await startHarness(meshFixture('ratings-plain.yaml', { v1: v1.port, v2: v2.port }), { startupHoldMs: 0, ca: false, xdsAdmission: { floor: 1, ratio: 0 } });
    const port = h.cp.xdsPort;
    const admittedIds = (): string[] => h!.cp.registry.list().map((c) => c.nodeId);
    const fillers: RawAds<'sotw' | 'delta'>[] = [];
    const settled = (r: RawAds<'sotw' | 'delta'>): boolean => r.status !== undefined || r.responses.length > 0;
    // Other streams take the one admission a second allows (one every 20 ms for 1.5 s, then a pause
    // to count), until the grpc-js-xds client has been refused at least once. Its attempt can slip
    // into a freed slot first; then a new client process tries again (at most three).
    let refusedRun: XdsClientRun | undefined;
    for (let attempt = 0; attempt < 3 && refusedRun === undefined; attempt++) {
      const id = `paced-grpc-${attempt}`;
      const run = spawnXdsClient({ xdsPort: port, nodeId: id, calls: 5 });
      runs.push(run);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && !admittedIds().includes(id)) {
        for (const end = Date.now() + 1500; Date.now() < end; ) {
          const f = new RawAds(port, 'sotw');
          f.send({ node: { id: `filler~${fillers.length}` }, type_url: LISTENER, resource_names: [] });
          fillers.push(f);
          raws.push(f);
          await new Promise((r) => setTimeout(r, 20));
        }
        await until(() => fillers.every(settled), 10_000, 'every filler stream answered or ended');
        const fillersRefused = fillers.filter((f) => f.status?.code === grpc.status.UNAVAILABLE).length;
        if ((await pacedMetric(h.cp.adminPort)) - fillersRefused >= 1) {
          refusedRun = run;
          break;
        }
      }
    }
    expect(refusedRun, 'a grpc-js-xds client refused at least once').toBeDefined();
    // Nothing in the way any more: it retries, is admitted, and its calls succeed.
    const lines = await refusedRun!.done;
    expect(lines).toHaveLength(5);
    expect(lines.every((l) => l.code === 0)).toBe(true);
  }, 90_000);

  it('keeps the start-up hold on while streams are being paced, up to three times its length', async () => {
    // `ratings` relies on registration: the first push waits for it (the start-up hold).
    const yaml = `${YAML}  ratings:\n    protocol: http\n    port: 9090\n`;
    const startedAt = Date.now();
    h = await startHarness(yaml, { startupHoldMs: 1000, ca: false, xdsAdmission: { floor: 1, ratio: 0 } });
    const port = h.cp.xdsPort;
    let publishedAt: number | undefined;
    h.cp.cache.onChange(() => (publishedAt ??= Date.now()));
    // A stream every 100 ms against one admitted a second: pacing all along, for 2.2 s.
    for (let i = 0; Date.now() - startedAt < 2200; i++) {
      open(port, 'sotw', `fleet~${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Past the 1 s hold, and nothing published: the fleet was still being let in.
    expect(publishedAt).toBeUndefined();
    expect(h.cp.cache.model()).toBeUndefined();
    // Pacing over: the hold ends within about a second more.
    await until(() => publishedAt !== undefined, 5000, 'the first publish');
    expect(publishedAt! - startedAt).toBeLessThan(4500);

    // A fleet that keeps coming does not hold it past three times the hold.
    await h.close();
    const again = Date.now();
    h = await startHarness(yaml, { startupHoldMs: 500, ca: false, xdsAdmission: { floor: 1, ratio: 0 } });
    let published2: number | undefined;
    h.cp.cache.onChange(() => (published2 ??= Date.now()));
    for (let i = 0; published2 === undefined && Date.now() - again < 6000; i++) {
      open(h.cp.xdsPort, 'sotw', `endless~${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(published2).toBeDefined();
    expect(published2! - again).toBeGreaterThanOrEqual(1400);
    expect(published2! - again).toBeLessThan(3500);
  }, 60_000);

  it('floor 0 admits every stream at once', async () => {
    h = await startHarness(YAML, { startupHoldMs: 0, ca: false, xdsAdmission: { floor: 0 } });
    const port = h.cp.xdsPort;
    const opened = Array.from({ length: 30 }, (_, i) => open(port, i % 2 === 0 ? 'sotw' : 'delta', `open~${i}`));
    await Promise.all(opened.map((r) => r.next((x) => x.type_url === LISTENER, 10_000)));
    expect(opened.every((r) => r.status === undefined)).toBe(true);
    expect(await pacedMetric(h.cp.adminPort)).toBe(0);
  });
});

describe('enmesh control-plane --xds-admission-*', () => {
  const io = (): CapturedIo => captureIo();

  it('documents both flags in the help', async () => {
    const c = io();
    expect(await main(['control-plane', '--help'], c)).toBe(0);
    expect(c.out).toMatch(/--xds-admission-floor <n>.*\(default 20; 0: no pacing\)/s);
    expect(c.out).toMatch(/--xds-admission-ratio <r>.*default 0\.2/s);
  });

  it('refuses bad values naming the flag, its range and the value', async () => {
    const cases: [string, string, RegExp][] = [
      ['--xds-admission-floor=-1', '', /--xds-admission-floor must be an integer from 0 to 1000000, got "-1"/],
      ['--xds-admission-floor', '2.5', /--xds-admission-floor must be an integer from 0 to 1000000, got "2.5"/],
      ['--xds-admission-floor', 'lots', /--xds-admission-floor must be an integer/],
      ['--xds-admission-ratio', 'abc', /--xds-admission-ratio must be a number from 0 to 10, like 0.2, got "abc"/],
      ['--xds-admission-ratio=-0.2', '', /--xds-admission-ratio must be a number from 0 to 10/],
      ['--xds-admission-ratio', '11', /--xds-admission-ratio must be a number from 0 to 10, like 0.2, got "11"/],
    ];
    for (const [flag, value, message] of cases) {
      const c = io();
      const args = value === '' ? [flag] : [flag, value];
      expect(await main(['control-plane', '--config', 'x.yaml', ...args], c), args.join(' ')).toBe(2);
      expect(c.err).toMatch(message);
    }
  });
});
