/**
 * The operator dashboard end to end in a real headless Chromium: a control
 * plane serving the example application's mesh, real backends, and SDK
 * processes calling each other by name (their load reports are the live
 * numbers). The page must show the services and their traffic; moving the
 * reviews weight slider must change the split of real traffic. A 50-service
 * mesh must lay out without overlapping nodes or labels.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { DASHBOARD_CSP } from '../../../src/control-plane/dashboard/serve.ts';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { RunningLoad, SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { until } from '../../helpers/cp/wait.ts';
import { chromiumMissing, collectPageErrors, launchChromium, overlapping, screenshotDir } from './dashboard-browser.ts';
import type { Rect } from './dashboard-browser.ts';
import { bigMesh, bookinfoYaml, reportLoad } from './dashboard-mesh.ts';

const missing = chromiumMissing();
if (missing !== undefined) console.log(`[dashboard] skipping the browser tests: ${missing}`);

const quiet = { info() {}, warn() {}, error() {} };
const token = randomBytes(18).toString('base64url');

let browser: Browser;
let shots: string;

beforeAll(async () => {
  if (missing !== undefined) return;
  browser = await launchChromium();
  shots = await screenshotDir();
}, 90_000);

afterAll(async () => {
  await browser?.close();
});

/** A control plane in this process, reporting load every second. */
async function controlPlane(yaml: string): Promise<{ cp: ControlPlane; file: MeshFile; base: string }> {
  const file = await createMeshFile(yaml);
  const cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, loadReportIntervalMs: 1000, publishDebounceMs: 20, adminToken: token, log: quiet });
  return { cp, file, base: `http://127.0.0.1:${cp.adminPort}` };
}

const numberIn = (text: string | null): number => Number.parseFloat((text ?? '').replace(/[^0-9.]/g, '')) || 0;

describe.skipIf(missing !== undefined)('dashboard', () => {
  describe('on the example application with real traffic', () => {
    const backends: Record<string, Backend> = {};
    const sdks: SdkProcess[] = [];
    const loads: RunningLoad[] = [];
    let cp: ControlPlane;
    let file: MeshFile;
    let base: string;
    let productpage: SdkProcess;
    let page: Page;
    let errors: string[];

    beforeAll(async () => {
      for (const name of ['productpage', 'details', 'v1', 'v2', 'ratings']) backends[name] = await startBackend(name);
      ({ cp, file, base } = await controlPlane(
        bookinfoYaml({
          productpage: backends.productpage!.address,
          details: backends.details!.address,
          reviewsV1: backends.v1!.address,
          reviewsV2: backends.v2!.address,
          ratings: backends.ratings!.address,
        }),
      ));
      const xds = `xds://127.0.0.1:${cp.xdsPort}`;
      // productpage calls details and reviews; reviews calls ratings: each process reports its calls over LRS.
      [productpage] = await Promise.all([spawnSdk({ controlPlane: [xds], service: 'productpage' }), spawnSdk({ controlPlane: [xds], service: 'reviews' }).then((s) => (sdks.push(s), s))]);
      sdks.push(productpage);
      const reviews = sdks[0]!;
      await productpage.waitForConfig((c) => c.services.reviews !== undefined, 15_000);
      await reviews.waitForConfig((c) => c.services.ratings !== undefined, 15_000);
      loads.push(
        productpage.load({ url: 'http://details:9080/details/1', count: 20_000, rps: 8, maxMs: 150_000 }),
        productpage.load({ url: 'http://reviews:9080/reviews/1', count: 20_000, rps: 15, maxMs: 150_000 }),
        reviews.load({ url: 'http://ratings:9080/ratings/1', count: 20_000, rps: 6, maxMs: 150_000 }),
      );
      page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      errors = collectPageErrors(page);
    }, 90_000);

    afterAll(async () => {
      await Promise.all(loads.map((l) => l.stop().catch(() => {})));
      await page?.close();
      await Promise.all(sdks.map((s) => s.kill()));
      await cp?.close();
      await file?.remove();
      await Promise.all(Object.values(backends).map((b) => b.close()));
    });

    it('serves the page and its files with content types, ETags and a CSP', async () => {
      const res = await fetch(`${base}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
      for (const [path, type] of [['/ui/app.js', 'text/javascript; charset=utf-8'], ['/ui/app.css', 'text/css; charset=utf-8']] as const) {
        const r = await fetch(`${base}${path}`);
        expect(r.status, path).toBe(200);
        expect(r.headers.get('content-type'), path).toBe(type);
        const etag = r.headers.get('etag');
        expect(etag, path).toMatch(/^"[\w-]+"$/);
        expect((await r.text()).length, path).toBeGreaterThan(1000);
        const again = await fetch(`${base}${path}`, { headers: { 'if-none-match': etag! } });
        expect(again.status, path).toBe(304);
      }
      // The script the browser gets is JavaScript: no type annotation survived.
      const js = await (await fetch(`${base}/ui/app.js`)).text();
      expect(js).not.toMatch(/\binterface \w+ \{/);
    });

    it('shows the services, the call graph and live numbers from real traffic', async () => {
      await page.goto(`${base}/#token=${token}`);
      // The token leaves the address bar once read.
      expect(page.url()).toBe(`${base}/`);
      for (const name of ['productpage', 'details', 'reviews', 'ratings']) {
        await page.locator(`#services tr[data-service="${name}"]`).waitFor({ timeout: 15_000 });
      }
      // Load reports arrive every second; the numbers then show on the rows and the graph's edges.
      await until(async () => numberIn(await page.locator('#services tr[data-service="reviews"] td.rps').textContent()) > 0, 40_000, 'reviews req/s on the page', 250);
      await until(async () => numberIn(await page.locator('#services tr[data-service="ratings"] td.rps').textContent()) > 0, 40_000, 'ratings req/s on the page', 250);
      for (const [from, to] of [['productpage', 'reviews'], ['productpage', 'details'], ['reviews', 'ratings']]) {
        await page.locator(`#graph path.edge[data-source="${from}"][data-destination="${to}"]`).waitFor({ timeout: 20_000 });
      }
      const label = await page.locator('#graph g.edge-label[data-source="productpage"][data-destination="reviews"] text').textContent();
      expect(label).toMatch(/^[\d.]+\/s 100% p99 [\d.]+m?s$/);
      expect(await page.locator('#services tr[data-service="reviews"] td.success').textContent()).toBe('100%');
      // The numbers are live: the sparklines grow as updates arrive (every 2 s over the event stream).
      const points = async (): Promise<number> => {
        const line = page.locator('#services tr[data-service="reviews"] td.spark-cell polyline').first();
        return (await line.count()) === 0 ? 0 : ((await line.getAttribute('points')) ?? '').split(' ').length;
      };
      await until(async () => (await points()) >= 2, 20_000, 'a sparkline', 250);
      const seen = await points();
      await until(async () => (await points()) > seen, 20_000, 'a later load update on the sparkline', 250);
      // Clients: both SDKs, on the config version served, acknowledged.
      await until(async () => (await page.locator('#clients tbody tr[data-client]').count()) >= 2, 15_000, 'clients listed', 250);
      expect(await page.locator('#clients tbody tr[data-client] .badge.ok').count()).toBeGreaterThanOrEqual(2);
      await page.screenshot({ path: join(shots, 'bookinfo.png'), fullPage: true });
      expect(errors).toEqual([]);
    }, 90_000);

    it('moves the reviews split with the slider, and real traffic follows', async () => {
      const measure = async (count: number): Promise<number> => {
        const r = await productpage.load({ url: 'http://reviews:9080/reviews/2', count, concurrency: 6, maxMs: 60_000 }).result;
        expect(r.failed).toBe(0);
        return (r.byBackend.v2 ?? 0) / r.ok;
      };
      const before = await measure(400);
      expect(before).toBeGreaterThan(0.12);
      expect(before).toBeLessThan(0.28);

      await page.locator('#services tr[data-service="reviews"]').click();
      const route = page.locator('#detail .route[data-route="default"]');
      const slider = route.locator('input.weight-slider');
      await slider.waitFor({ timeout: 10_000 });
      expect(await slider.isEnabled()).toBe(true);
      expect(await slider.inputValue()).toBe('20');
      // Drag the thumb from 20 % to about 75 % of the track with the mouse, as a person would.
      const box = (await slider.boundingBox())!;
      const y = box.y + box.height / 2;
      await page.mouse.move(box.x + box.width * 0.2, y);
      await page.mouse.down();
      for (const f of [0.35, 0.5, 0.65, 0.75]) await page.mouse.move(box.x + box.width * f, y, { steps: 4 });
      await page.mouse.up();
      const chosen = Number(await slider.inputValue());
      expect(chosen).toBeGreaterThanOrEqual(65);
      expect(chosen).toBeLessThanOrEqual(85);
      await expect.poll(() => route.locator('.split-label').textContent(), { timeout: 5000 }).toBe(`v1 ${100 - chosen} / v2 ${chosen}`);

      // The control plane publishes the edit; the page shows it once the new model arrives.
      await until(async () => (await route.locator('.split-status').textContent()) === 'in force', 20_000, 'new split in force on the page', 100);
      const view = (await (await fetch(`${base}/ui/mesh.json`)).json()) as { services: { name: string; routes: { name: string; backends: { key: string; weight: number }[] }[] }[] };
      const weights = view.services.find((s) => s.name === 'reviews')!.routes.find((r) => r.name === 'default')!.backends.map((b) => `${b.key}:${b.weight}`);
      expect(weights).toEqual([`v1:${100 - chosen}`, `v2:${chosen}`]);
      expect(await slider.inputValue()).toBe(String(chosen));
      await productpage.waitForConfig((c) => c.services.reviews?.routes.find((r) => r.name === 'default')?.backends.map((b) => b.weight).join('/') === `${100 - chosen}/${chosen}`, 10_000);

      const after = await measure(1000);
      console.log(`[measure] reviews v2 share of real traffic: ${(before * 100).toFixed(1)} % at 80/20, ${(after * 100).toFixed(1)} % after the slider set ${100 - chosen}/${chosen}`);
      expect(Math.abs(after - chosen / 100)).toBeLessThan(0.07);

      // The edit is in the audit log, by the dashboard.
      await page.locator('#audit .audit-entry.applied').first().waitFor({ timeout: 10_000 });
      expect(await page.locator('#audit .audit-entry').first().textContent()).toContain('dashboard');
      await page.screenshot({ path: join(shots, 'bookinfo-after-slider.png'), fullPage: true });
      expect(errors).toEqual([]);
    }, 120_000);

    it('turns fault injection on and off from the page, and real calls see it', async () => {
      type View = { modelVersion: string; services: { name: string; routes: { name: string; fault: unknown }[] }[] };
      const view = async (): Promise<View> => (await fetch(`${base}/ui/mesh.json`)).json() as Promise<View>;
      const fault = (v: View): unknown => v.services.find((s) => s.name === 'reviews')!.routes.find((r) => r.name === 'canary-by-header')!.fault;
      const canaryCalls = async (): Promise<{ ok: number; failed: number; statuses: (number | undefined)[] }> => {
        const r = await productpage.load({ url: 'http://reviews:9080/reviews/3', count: 40, concurrency: 4, maxMs: 30_000, headers: { 'x-canary': 'true' } }).result;
        return { ok: r.ok, failed: r.failed, statuses: [...new Set(r.failures.map((f) => f.status))] };
      };
      /** Waits until the SDK runs the model the control plane has published. */
      const sdkCaughtUp = async (): Promise<void> => {
        const wanted = (await view()).modelVersion;
        await productpage.waitForConfig((c) => c.version === wanted, 10_000);
      };

      const route = page.locator('#detail .route[data-route="canary-by-header"]');
      await route.locator('input[name="abort-percent"]').fill('100');
      await route.locator('input[name="abort-status"]').fill('503');
      await route.locator('input.fault-toggle').check();
      await until(async () => fault(await view()) !== null, 15_000, 'fault in the published model', 100);
      expect(fault(await view())).toEqual({ abort: { percent: 100, status: 503 } });
      await until(async () => (await page.locator('#services tr[data-service="reviews"] .badge', { hasText: 'fault' }).count()) === 1, 10_000, 'fault badge', 100);
      await sdkCaughtUp();
      const faulted = await canaryCalls();
      expect(faulted.ok).toBe(0);
      expect(faulted.statuses).toEqual([503]);

      await page.locator('#detail .route[data-route="canary-by-header"] input.fault-toggle').uncheck();
      await until(async () => fault(await view()) === null, 15_000, 'fault gone from the published model', 100);
      await sdkCaughtUp();
      expect((await canaryCalls()).ok).toBe(40);
      await page.locator('#audit .audit-entry', { hasText: 'route.fault' }).first().waitFor({ timeout: 10_000 });
      expect(errors).toEqual([]);
    }, 90_000);

    it('turns a rate limit on and off from the page, and real calls are limited by it', async () => {
      type View = { modelVersion: string; services: { name: string; rateLimit: unknown }[] };
      const view = async (): Promise<View> => (await fetch(`${base}/ui/mesh.json`)).json() as Promise<View>;
      const limit = (v: View): unknown => v.services.find((s) => s.name === 'details')!.rateLimit;
      const burst = async (): Promise<{ ok: number; statuses: (number | undefined)[] }> => {
        const r = await productpage.load({ url: 'http://details:9080/details/9', count: 30, concurrency: 6, maxMs: 30_000 }).result;
        return { ok: r.ok, statuses: [...new Set(r.failures.map((f) => f.status))] };
      };
      const sdkCaughtUp = async (): Promise<void> => {
        const wanted = (await view()).modelVersion;
        await productpage.waitForConfig((c) => c.version === wanted, 10_000);
      };

      await page.locator('#services tr[data-service="details"]').click();
      const section = page.locator('#detail .section', { hasText: 'Rate limit' });
      await section.locator('input[name="rps"]').fill('2');
      await section.locator('input[name="burst"]').fill('1');
      await section.locator('input.rate-limit-toggle').check();
      await until(async () => limit(await view()) !== null, 15_000, 'rate limit in the published model', 100);
      expect(limit(await view())).toEqual({ requestsPerSecond: 2, burst: 1, scope: 'local' });
      await until(async () => (await page.locator('#services tr[data-service="details"] .badge', { hasText: 'limit 2/s' }).count()) === 1, 10_000, 'rate-limit badge', 100);
      await sdkCaughtUp();
      const limited = await burst();
      // 30 calls at once against 2/s with a burst of 1: most are refused by the caller's mesh.
      expect(limited.ok).toBeLessThan(15);
      expect(limited.statuses).toEqual([429]);

      await page.locator('#detail .section', { hasText: 'Rate limit' }).locator('input.rate-limit-toggle').uncheck();
      await until(async () => limit(await view()) === null, 15_000, 'rate limit gone from the published model', 100);
      await sdkCaughtUp();
      expect((await burst()).ok).toBe(30);
      expect(errors).toEqual([]);
    }, 90_000);

    it('drains and undrains an endpoint from the page', async () => {
      type View = { services: { name: string; endpoints: { address: string; drained: boolean; healthy: boolean }[] }[] };
      const v1 = backends.v1!.address;
      const endpoint = async (): Promise<{ drained: boolean; healthy: boolean }> =>
        ((await (await fetch(`${base}/ui/mesh.json`)).json()) as View).services.find((s) => s.name === 'reviews')!.endpoints.find((e) => e.address === v1)!;
      await page.locator('#services tr[data-service="reviews"]').click();
      const row = page.locator(`#detail tr[data-endpoint="${v1}"]`);
      await row.locator('button', { hasText: 'drain' }).click();
      await until(async () => (await endpoint()).drained, 15_000, 'drained in the published model', 100);
      // Still listed, marked drained, and published unhealthy so clients send it nothing new.
      await until(async () => (await row.locator('.badge', { hasText: 'drained' }).count()) === 1, 10_000, 'drained badge', 100);
      expect((await endpoint()).healthy).toBe(false);
      expect(await page.locator('#services tr[data-service="reviews"] td').nth(1).textContent()).toBe('1/2');
      await row.locator('button', { hasText: 'undrain' }).click();
      await until(async () => !(await endpoint()).drained, 15_000, 'undrained in the published model', 100);
      await until(async () => (await row.locator('.badge', { hasText: 'healthy' }).count()) === 1, 10_000, 'healthy badge', 100);
      await page.locator('#audit .audit-entry', { hasText: 'endpoint.drain' }).first().waitFor({ timeout: 10_000 });
      expect(errors).toEqual([]);
    }, 60_000);

    it('falls back to polling when the event stream is not available, and stays live', async () => {
      const polled = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        // As behind a proxy that does not pass event streams.
        await polled.route('**/api/v1/events', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"no such endpoint"}' }));
        await polled.goto(`${base}/`);
        await until(async () => (await polled.locator('#conn').getAttribute('data-state')) === 'polling', 15_000, 'polling state', 100);
        expect(await polled.locator('#conn').textContent()).toContain('polling');
        const points = async (): Promise<number> => {
          const line = polled.locator('#services tr[data-service="reviews"] td.spark-cell polyline').first();
          return (await line.count()) === 0 ? 0 : ((await line.getAttribute('points')) ?? '').split(' ').length;
        };
        await until(async () => (await points()) >= 3, 20_000, 'load updates by polling', 250);
        expect(numberIn(await polled.locator('#services tr[data-service="reviews"] td.rps').textContent())).toBeGreaterThan(0);
      } finally {
        await polled.close();
      }
    }, 60_000);

    it('keeps keyboard focus on a graph node while load updates redraw the graph', async () => {
      const node = page.locator('#graph g.node[data-service="reviews"]');
      await node.focus();
      // Mark this drawing; a load update replaces the whole <svg>.
      await page.locator('#graph svg').evaluate((svg) => svg.setAttribute('data-drawn-before', ''));
      await page.locator('#graph svg:not([data-drawn-before])').waitFor({ timeout: 10_000 });
      const focused = await page.locator('#graph').evaluate((host) => host.ownerDocument.activeElement?.closest('g.node')?.getAttribute('data-service') ?? null);
      expect(focused).toBe('reviews');
      // Enter still selects the focused service.
      await page.keyboard.press('Enter');
      await expect.poll(() => page.locator('#services tr.selected').getAttribute('data-service'), { timeout: 5000 }).toBe('reviews');
      expect(errors).toEqual([]);
    });

    it('is read-only without the token, and says how to get it', async () => {
      const ro = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        await ro.goto(`${base}/`);
        await ro.locator('#services tr[data-service="reviews"]').click();
        const slider = ro.locator('#detail .route[data-route="default"] input.weight-slider');
        await slider.waitFor({ timeout: 10_000 });
        expect(await slider.isDisabled()).toBe(true);
        expect(await ro.locator('#access').textContent()).toContain('#token=');
        // And the API agrees: a change without the token is refused.
        const res = await fetch(`${base}/api/v1/services/reviews/routes/default/weights`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ weights: { v1: 50, v2: 50 } }) });
        expect(res.status).toBe(401);
      } finally {
        await ro.close();
      }
    });
  });

  describe('with 50 services', () => {
    it('lays the call graph out without overlapping nodes or labels, and stays readable', async () => {
      const mesh = bigMesh();
      const { cp, file, base } = await controlPlane(mesh.yaml);
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      const errors = collectPageErrors(page);
      try {
        for (let round = 0; round < 2; round++) reportLoad(cp.load, mesh.edges, round);
        const started = performance.now();
        await page.goto(`${base}/`);
        await until(async () => (await page.locator('#services tbody tr[data-service]').count()) === 50, 15_000, '50 service rows', 100);
        await until(async () => (await page.locator('#graph g.node').count()) === 50, 15_000, '50 graph nodes', 100);
        await until(async () => (await page.locator('#graph path.edge').count()) === mesh.edges.length, 15_000, 'every edge drawn', 100);
        console.log(`[measure] 50-service dashboard drawn ${(performance.now() - started).toFixed(0)} ms after navigation`);

        // Measured in one evaluation, so every box comes from one drawing of the graph, all of it in
        // the document. The page draws the graph anew (a new <svg> in #graph, which itself stays) on
        // every load update, every 2 s, and a locator's evaluateAll takes two round trips: it finds
        // the elements, then runs the function on them. A redraw in between left the function
        // measuring elements already removed, which report 0×0 boxes and an empty computed style:
        // on a busy machine that read as 50 nodes too small to read, or a NaN font size, though the
        // page never drew them so. Separate evaluations could also mix boxes of two drawings.
        const drawn = await page.locator('#graph').evaluate((host) => {
          type Measurable = { getBoundingClientRect(): { x: number; y: number; width: number; height: number } };
          const measure = (el: Measurable, name: string): Rect => {
            const r = el.getBoundingClientRect();
            return { name, x: r.x, y: r.y, width: r.width, height: r.height };
          };
          const groups = [...host.querySelectorAll('g.node')];
          return {
            graphs: host.querySelectorAll('svg').length,
            nodes: groups.map((g) => measure(g.querySelector('rect')!, g.getAttribute('data-service')!)),
            nodeBoxes: groups.map((g) => measure(g, g.getAttribute('data-service')!)),
            labels: [...host.querySelectorAll('g.edge-label')].map((g) => measure(g, `${g.getAttribute('data-source')}>${g.getAttribute('data-destination')}`)),
            texts: groups.map((g) => {
              const el = g.querySelector('text.node-name')!;
              const t = el.getBoundingClientRect();
              const box = g.querySelector('rect')!.getBoundingClientRect();
              return { fits: t.right <= box.right + 0.5 && t.left >= box.left - 0.5, px: Number.parseFloat(host.ownerDocument.defaultView!.getComputedStyle(el).fontSize), text: el.textContent as string | null };
            }),
          };
        });
        const { nodes, nodeBoxes, labels, texts } = drawn;
        expect(drawn.graphs).toBe(1);
        expect(nodes).toHaveLength(50);
        expect(overlapping(nodeBoxes)).toEqual([]);
        expect(overlapping(labels)).toEqual([]);
        // Labels sit beside nodes, never on them.
        const crossing = labels.flatMap((l) => nodeBoxes.filter((n) => overlapping([l, n]).length > 0).map((n) => `${l.name} on ${n.name}`));
        expect(crossing).toEqual([]);
        // Most edges keep their numbers on the graph; the rest in their tooltips.
        expect(labels.length).toBeGreaterThanOrEqual(mesh.edges.length * 0.8);
        // Every service name is drawn at a readable size and inside its box.
        expect(texts.filter((t) => !t.fits)).toEqual([]);
        expect(Math.min(...texts.map((t) => t.px))).toBeGreaterThanOrEqual(11);
        expect(nodes.filter((n) => !(n.width >= 140 && n.height >= 36))).toEqual([]);
        // Tiers read left to right: the gateway before its front ends, front ends before what they call.
        const x = new Map(nodeBoxes.map((n) => [n.name, n.x] as const));
        for (const [from, to] of mesh.edges) expect(x.get(from)!, `${from} → ${to}`).toBeLessThan(x.get(to)!);
        // The page does not scroll sideways: the graph scrolls inside its panel when it must.
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect(overflow).toBeLessThanOrEqual(0);
        await page.screenshot({ path: join(shots, 'fifty-services.png'), fullPage: true });
        await page.locator('#graph').screenshot({ path: join(shots, 'fifty-services-graph.png') });
        expect(errors).toEqual([]);
      } finally {
        await page.close();
        await cp.close();
        await file.remove();
      }
    }, 90_000);
  });
});
