/**
 * The operator admin API end to end: a real control plane on listen(0), real
 * backends, and a real application process in control-plane mode sending
 * traffic by service name. Every change goes through the HTTP API and must
 * show up in real traffic, the config file, the history and the audit log.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { until } from '../../helpers/cp/wait.ts';

const TOKEN = 'admin-api-test-token-5f1c2e';

let v1: Backend;
let v2: Backend;
let d1: Backend;
let d2: Backend;
let r1: Backend;
let r2: Backend;
let file: MeshFile;
let dir: string;
let auditFile: string;
let cp: ControlPlane;
let sdk: SdkProcess;
let base: string;
let initialText: string;

const yaml = (): string => `# operators' mesh
mesh:
  name: ops
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: "${v1.address}", labels: { version: v1 } }
      - { address: "${v2.address}", labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    routes:
      - name: canary   # header route, never touched here
        match: { headers: { x-canary: "true" } }
        backends: [{ subset: v2 }]
      - name: default
        backends: [{ subset: v1, weight: 80 }, { subset: v2, weight: 20 }]
  details:
    protocol: http
    port: 9081
    endpoints:
      - { address: "${d1.address}" }
      - { address: "${d2.address}" }
  ratings:
    protocol: http
    port: 9082
    endpoints:
      - { address: "${r1.address}" }
      - { address: "${r2.address}" }
    outlierDetection: { consecutive5xx: 3, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 50 }
`;

interface Json {
  status: number;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Json> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const get = async <T = Record<string, unknown>>(path: string): Promise<T> => (await (await fetch(`${base}${path}`)).json()) as T;

/** Share of `n` sequential calls answered by each backend (by name). */
async function split(url: string, count: number): Promise<{ ok: number; failed: number; byBackend: Record<string, number>; statuses: number[] }> {
  const r = await sdk.load({ url, count, concurrency: 4, maxMs: 30_000 }).result;
  return { ok: r.ok, failed: r.failed, byBackend: { ...r.byBackend }, statuses: r.failures.map((f) => f.status ?? 0) };
}

/** Waits until the SDK runs a model in which `check` holds for reviews' default route. */
async function sdkSees(predicate: (c: { services: Record<string, { routes: { name: string; backends: { subset: string | null; weight: number }[] }[]; endpoints: readonly string[] }> }) => boolean): Promise<void> {
  await sdk.waitForConfig((c) => predicate(c as never), 10_000);
}

beforeAll(async () => {
  [v1, v2, d1, d2, r1, r2] = await Promise.all(['v1', 'v2', 'd1', 'd2', 'r1', 'r2'].map((n) => startBackend(n)));
  file = await createMeshFile(yaml());
  initialText = yaml();
  dir = await mkdtemp(join(tmpdir(), 'enmesh-audit-'));
  auditFile = join(dir, 'audit.jsonl');
  cp = await startControlPlane({
    config: file.path,
    xdsPort: 0,
    adminPort: 0,
    startupHoldMs: 0,
    loadReportIntervalMs: 300,
    adminToken: TOKEN,
    auditLog: auditFile,
    log: { info() {}, warn() {}, error() {} },
  });
  base = `http://127.0.0.1:${cp.adminPort}`;
  sdk = await spawnSdk({ controlPlane: [`xds://127.0.0.1:${cp.xdsPort}`], service: 'productpage' });
  await sdk.waitForConfig((c) => c.services.reviews !== undefined, 15_000);
}, 60_000);

afterAll(async () => {
  await sdk?.kill();
  await cp?.close();
  await file?.remove();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  await Promise.all([v1, v2, d1, d2, r1, r2].map((b) => b?.close()));
});

describe('admin token', () => {
  it('refuses mutations without or with a wrong token (401), reads need none', async () => {
    const none = await fetch(`${base}/api/v1/services/reviews/routes/default/weights`, { method: 'POST', body: '{"weights":{"v1":1}}' });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: string }).error).toMatch(/Authorization: Bearer/);
    const wrong = await call('PUT', '/api/v1/config', { text: 'x' }, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('wrong admin token');
    const cfg = await get<{ text: string; source: string; version: string }>('/api/v1/config');
    expect(cfg.text).toBe(initialText);
    expect(cfg.source).toBe('file');
    expect(cfg.version).toBe(cp.configVersion());
    // Nothing was audited for refused credentials: they never reached the API.
    expect((await get<{ entries: unknown[] }>('/api/v1/audit')).entries).toEqual([]);
  });
});

describe('mutations', () => {
  it('moves the real traffic split with a weights call, audited with its diff', async () => {
    const before = await split('http://reviews:9080/', 200);
    expect(before.ok).toBe(200);
    expect(before.byBackend.v1).toBeGreaterThan(100);

    const res = await call('POST', '/api/v1/services/reviews/routes/default/weights', { weights: { v1: 0, v2: 100 } }, { 'x-enmesh-actor': 'alice' });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(cp.configVersion());
    expect(res.body.diff).toContain('-        backends: [{ subset: v1, weight: 80 }, { subset: v2, weight: 20 }]');
    expect(res.body.diff).toContain('weight: 100');
    // The edit kept the comment and the untouched lines as written.
    const text = await readFile(file.path, 'utf8');
    expect(text).toContain('- name: canary   # header route, never touched here');
    expect(text.split('\n').filter((l, i) => l !== initialText.split('\n')[i])).toHaveLength(1);

    await sdkSees((c) => c.services.reviews?.routes.find((r) => r.name === 'default')?.backends.find((b) => b.subset === 'v1')?.weight === 0);
    const after = await split('http://reviews:9080/', 100);
    expect(after.ok).toBe(100);
    expect(after.byBackend).toEqual({ v2: 100 });

    const { entries } = await get<{ entries: { actor: string; action: string; target: string; result: string; diff: string; version: string }[] }>('/api/v1/audit');
    expect(entries[0]).toMatchObject({ actor: 'alice', action: 'route.weights', target: 'reviews/routes/default', result: 'applied', version: res.body.version });
    expect(entries[0]!.diff).toBe(res.body.diff);
  });

  it('refuses an invalid change with 400 naming the key path, and changes nothing', async () => {
    const text = await readFile(file.path, 'utf8');
    const version = cp.configVersion();
    const res = await call('POST', '/api/v1/services/reviews/routes/default/weights', { weights: { v1: -5, v2: 10 } });
    expect(res.status).toBe(400);
    const issues = res.body.issues as { path: string; message: string; line?: number }[];
    expect(issues.map((i) => i.path)).toContain('services.reviews.routes[1].backends[0].weight');
    expect(issues[0]!.line).toBeGreaterThan(0);
    // Unknown backends and routes are named too.
    const unknown = await call('POST', '/api/v1/services/reviews/routes/default/weights', { weights: { v9: 1 } });
    expect(unknown.status).toBe(400);
    expect((unknown.body.issues as { path: string }[])[0]!.path).toBe('weights.v9');
    expect((await call('POST', '/api/v1/services/reviews/routes/nope/weights', { weights: { v1: 1 } })).status).toBe(404);
    expect((await call('POST', '/api/v1/services/nope/routes/default/weights', { weights: { v1: 1 } })).status).toBe(404);
    const badYaml = await call('PUT', '/api/v1/config', { text: 'services:\n  reviews:\n    protocol: http\n    port: [' });
    expect(badYaml.status).toBe(400);
    expect(await readFile(file.path, 'utf8')).toBe(text);
    expect(cp.configVersion()).toBe(version);
    const { entries } = await get<{ entries: { result: string; error?: string; diff: string }[] }>('/api/v1/audit');
    expect(entries[0]!.result).toBe('rejected');
    expect(entries.filter((e) => e.result === 'rejected').length).toBeGreaterThanOrEqual(4);
    const negative = entries.find((e) => e.error?.includes('backends[0].weight'));
    expect(negative?.diff).toContain('weight: -5');
  });

  it('validates without applying on dryRun and refuses a stale expectedVersion (409)', async () => {
    const cfg = await get<{ text: string; version: string }>('/api/v1/config');
    const edited = cfg.text.replace('port: 9081', 'port: 9091');
    const dry = await call('PUT', '/api/v1/config', { text: edited, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.valid).toBe(true);
    expect(dry.body.diff).toContain('+    port: 9091');
    expect(await readFile(file.path, 'utf8')).toBe(cfg.text);
    const stale = await call('PUT', '/api/v1/config', { text: edited, expectedVersion: 'feedfacefeedface' });
    expect(stale.status).toBe(409);
    expect(await readFile(file.path, 'utf8')).toBe(cfg.text);
  });

  it('turns a fault on and off in real traffic', async () => {
    const on = await call('POST', '/api/v1/services/details/routes/default/fault', { abort: { percent: 100, status: 503 } });
    expect(on.status).toBe(200);
    expect(on.body.diff).toContain('status: 503');
    await until(async () => (await split('http://details:9081/', 5)).failed === 5, 10_000, 'fault in force');
    const faulted = await split('http://details:9081/', 40);
    expect(faulted.failed).toBe(40);
    expect(new Set(faulted.statuses)).toEqual(new Set([503]));

    const off = await call('POST', '/api/v1/services/details/routes/default/fault', { enabled: false });
    expect(off.status).toBe(200);
    expect(off.body.diff).toContain('-');
    await until(async () => (await split('http://details:9081/', 5)).ok === 5, 10_000, 'fault off');
    const clean = await split('http://details:9081/', 40);
    expect(clean.ok).toBe(40);
  });

  it('sets and removes a rate limit', async () => {
    const set = await call('POST', '/api/v1/services/details/rate-limit', { requestsPerSecond: 2, burst: 2 });
    expect(set.status).toBe(200);
    expect(set.body.diff).toContain('rateLimit');
    expect((await readFile(file.path, 'utf8'))).toMatch(/rateLimit: \{ requestsPerSecond: 2, burst: 2 \}/);
    await until(async () => (await split('http://details:9081/', 20)).statuses.includes(429), 10_000, 'rate limit in force');
    const limited = await split('http://details:9081/', 30);
    expect(limited.failed).toBeGreaterThan(15);
    expect(new Set(limited.statuses)).toEqual(new Set([429]));
    const bad = await call('POST', '/api/v1/services/details/rate-limit', { requestsPerSecond: 'lots' });
    expect(bad.status).toBe(400);
    expect((bad.body.issues as { path: string }[])[0]!.path).toBe('services.details.rateLimit.requestsPerSecond');

    const off = await call('POST', '/api/v1/services/details/rate-limit', { enabled: false });
    expect(off.status).toBe(200);
    expect(await readFile(file.path, 'utf8')).not.toContain('rateLimit');
    await until(async () => (await split('http://details:9081/', 20)).ok === 20, 10_000, 'rate limit off');
  });

  it('drains an endpoint: listed as draining, no new traffic; undrain brings it back', async () => {
    const res = await call('POST', `/api/v1/services/details/endpoints/${d2.address}/drain`, { drained: true }, { 'x-enmesh-actor': 'bob' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ service: 'details', endpoint: d2.address, drained: true });
    const { services } = await get<{ services: { name: string; endpoints: { address: string; healthy: boolean; draining: boolean }[] }[] }>('/api/v1/services');
    const eps = services.find((s) => s.name === 'details')!.endpoints;
    expect(eps).toContainEqual(expect.objectContaining({ address: d2.address, healthy: false, draining: true }));
    expect(eps).toContainEqual(expect.objectContaining({ address: d1.address, healthy: true, draining: false }));
    // The enmesh profile's snapshot carries it as DRAINING; the SDK stops sending it requests.
    await until(async () => {
      const r = await split('http://details:9081/', 10);
      return r.ok === 10 && r.byBackend.d2 === undefined;
    }, 10_000, 'drain in force');
    const drained = await split('http://details:9081/', 100);
    expect(drained.byBackend).toEqual({ d1: 100 });
    expect((await call('POST', '/api/v1/services/details/endpoints/127.0.0.1:1/drain', { drained: true })).status).toBe(404);

    const back = await call('POST', `/api/v1/services/details/endpoints/${d2.address}/drain`, { drained: false });
    expect(back.status).toBe(200);
    await until(async () => ((await split('http://details:9081/', 20)).byBackend.d2 ?? 0) > 0, 10_000, 'undrain in force');
    const { entries } = await get<{ entries: { actor: string; action: string; target: string; result: string }[] }>('/api/v1/audit');
    expect(entries.slice(0, 3).map((e) => `${e.action} ${e.result}`)).toEqual(['endpoint.undrain applied', 'endpoint.drain rejected', 'endpoint.drain applied']);
    expect(entries[2]).toMatchObject({ actor: 'bob', target: `details/endpoints/${d2.address}` });
  });
});

describe('history and rollback', () => {
  it('lists the published versions newest first and rolls back to the first one', async () => {
    const history = await get<{ current: string; versions: { version: string; actor: string; source: string; summary: string }[] }>('/api/v1/history');
    expect(history.current).toBe(cp.configVersion());
    expect(history.versions[0]!.version).toBe(history.current);
    expect(history.versions.length).toBeGreaterThanOrEqual(6);
    const first = history.versions.at(-1)!;
    expect(first.source).toBe('startup');
    expect(history.versions.find((v) => v.actor === 'alice')?.summary).toMatch(/route\.weights reviews\/routes\/default/);
    const one = await get<{ text: string }>(`/api/v1/history/${first.version}`);
    expect(one.text).toBe(initialText);
    expect((await fetch(`${base}/api/v1/history/0000000000000000`)).status).toBe(404);

    const res = await call('POST', '/api/v1/rollback', { version: first.version });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(first.version);
    expect(res.body.diff).toContain('+        backends: [{ subset: v1, weight: 80 }, { subset: v2, weight: 20 }]');
    expect(await readFile(file.path, 'utf8')).toBe(initialText);
    expect(cp.configVersion()).toBe(first.version);
    await sdkSees((c) => c.services.reviews?.routes.find((r) => r.name === 'default')?.backends.find((b) => b.subset === 'v1')?.weight === 80);
    const after = await split('http://reviews:9080/', 300);
    expect(after.ok).toBe(300);
    const v2Share = (after.byBackend.v2 ?? 0) / 300;
    expect(v2Share).toBeGreaterThan(0.08);
    expect(v2Share).toBeLessThan(0.35);
    expect((await call('POST', '/api/v1/rollback', { version: 'nope' })).status).toBe(404);
    expect((await get<{ current: string }>('/api/v1/history')).current).toBe(first.version);
  });

  it('records a hand edit of the file in the history too', async () => {
    const before = cp.configVersion();
    await file.write(initialText.replace('name: ops', 'name: ops-edited'));
    await until(() => cp.configVersion() !== before, 10_000, 'hand edit published');
    await until(async () => (await get<{ versions: { version: string }[] }>('/api/v1/history')).versions[0]!.version === cp.configVersion(), 5000, 'history entry');
    const { versions } = await get<{ versions: { version: string; actor: string; source: string; summary: string }[] }>('/api/v1/history');
    expect(versions[0]).toMatchObject({ actor: 'file', source: 'file', summary: 'edited in file (+1 -1 lines)' });
    // A hand edit is not an API action: nothing in the audit log.
    const { entries } = await get<{ entries: { version: string }[] }>('/api/v1/audit');
    expect(entries.some((e) => e.version === cp.configVersion())).toBe(false);
  });

  it('appends every audit entry to the audit log file', async () => {
    await cp.operator.audit.flush();
    const lines = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: number; action: string; result: string });
    const { entries } = await get<{ entries: { id: number }[] }>('/api/v1/audit');
    expect(lines.map((l) => l.id)).toEqual(entries.map((e) => e.id).reverse());
    expect(lines.some((l) => l.action === 'rollback' && l.result === 'applied')).toBe(true);
  });
});

describe('events and policy state', () => {
  it('streams a snapshot event after a change', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/events`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (pattern: RegExp, ms: number): Promise<RegExpExecArray> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = pattern.exec(text);
        if (m !== null) return m;
        if (Date.now() > deadline) throw new Error(`no ${pattern} in the event stream within ${ms} ms; got: ${text.slice(-500)}`);
        const chunk = await Promise.race([reader.read(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 500))]);
        if (chunk !== undefined && !chunk.done) text += decoder.decode(chunk.value, { stream: true });
      }
    };
    try {
      // The current state comes first.
      await readUntil(/event: snapshot\ndata: (.*)\n\n/, 5000);
      await readUntil(/event: load\ndata: /, 5000);
      text = '';
      const res2 = await call('POST', '/api/v1/services/reviews/routes/default/weights', { weights: { v1: 50, v2: 50 } });
      expect(res2.status).toBe(200);
      const snap = await readUntil(/event: snapshot\ndata: (.*)\n\n/, 5000);
      const data = JSON.parse(snap[1]!) as { modelVersion: string; configVersion: string };
      expect(data.configVersion).toBe(res2.body.version);
      expect(data.modelVersion).toBe(cp.cache.model()!.version);
      const audit = await readUntil(/event: audit\ndata: (.*)\n\n/, 5000);
      expect((JSON.parse(audit[1]!) as { entry: { action: string } }).entry.action).toBe('route.weights');
    } finally {
      ac.abort();
      await reader.cancel().catch(() => {});
    }
  });

  it("shows an endpoint ejected by a real SDK's outlier detection", async () => {
    r2.failAll(503);
    // Calls until the SDK has seen 3 consecutive 5xx from r2 (round robin alternates).
    await until(async () => {
      await split('http://ratings:9082/', 10);
      const { services } = await get<{ services: { service: string; ejected: { address: string; reporters: string[] }[] }[] }>('/api/v1/policy-state');
      return (services.find((s) => s.service === 'ratings')?.ejected ?? []).some((e) => e.address === r2.address);
    }, 15_000, 'ejection reported');
    const state = await get<{ services: { service: string; openBreakers: unknown[]; ejected: { address: string; reporters: string[] }[] }[] }>('/api/v1/policy-state');
    const ratings = state.services.find((s) => s.service === 'ratings')!;
    expect(ratings.ejected).toEqual([{ address: r2.address, reporters: [expect.stringMatching(new RegExp(`^productpage~${sdk.child.pid}~`))] }]);
    expect(ratings.openBreakers).toEqual([]);
    // Every service of the model is listed, with nothing to report for the others.
    expect(state.services.find((s) => s.service === 'details')).toEqual({ service: 'details', openBreakers: [], ejected: [] });
    r2.failAll(0);
  });
});
