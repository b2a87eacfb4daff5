/**
 * The SDK's xDS client against the real control plane (`startControlPlane`)
 * on 127.0.0.1: what it builds matches the file-mode model, edits arrive
 * fast, and a control-plane restart costs nothing but a reconnect.
 */
import { once } from 'node:events';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMeshFile } from '../../../src/config/load.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import type { MeshModel, ServiceModel } from '../../../src/model/types.ts';
import { XdsClient } from '../../../src/xds/client/ads-client.ts';
import type { XdsClientOptions } from '../../../src/xds/client/ads-client.ts';

const MESH = `
mesh:
  name: demo
  trustDomain: demo.local
  mtls: permissive
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: 127.0.0.1:9081, labels: { version: v1 } }
      - { address: 127.0.0.1:9082, labels: { version: v2 }, weight: 2, zone: zone-b }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    loadBalancer: least-request
    outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
    routes:
      - name: canary-by-header
        match: { path: { prefix: /api }, method: GET, headers: { x-canary: "true" } }
        backends: [{ subset: v2 }]
      - name: default
        backends: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]
        timeout: 2s
        retries: { attempts: 3, perTryTimeout: 500ms, on: [5xx, reset, connect-failure] }
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:50052, labels: { version: v1 } }]
    subsets: { v1: { version: v1 } }
    routes:
      - match: { method: /ratings.Ratings/Get }
        backends: [{ subset: v1 }]
        retries: { attempts: 2, on: [unavailable, resource-exhausted] }
`;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function meshFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-xds-client-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, text);
  return file;
}

/** Replaces the file atomically, as editors and config-map updaters do. */
async function edit(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function controlPlane(config: string, xdsPort = 0): Promise<ControlPlane> {
  const cp = await startControlPlane({ config, xdsPort, adminPort: 0, log: silentLogger, publishDebounceMs: 10, watchDebounceMs: 20 });
  cleanups.push(() => cp.close());
  return cp;
}

function client(options: Partial<XdsClientOptions> & Pick<XdsClientOptions, 'servers'>): XdsClient {
  const c = new XdsClient({ node: { id: `it-${Math.random().toString(36).slice(2)}` }, ...options });
  c.on('warning', () => {});
  cleanups.push(() => c.close());
  return c.start();
}

function modelWhere(c: XdsClient, pred: (m: MeshModel) => boolean, timeoutMs = 5000): Promise<MeshModel> {
  if (c.model !== undefined && pred(c.model)) return Promise.resolve(c.model);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('model', on);
      reject(new Error('model not reached'));
    }, timeoutMs);
    const on = (m: MeshModel): void => {
      if (!pred(m)) return;
      clearTimeout(timer);
      c.off('model', on);
      resolve(m);
    };
    c.on('model', on);
  });
}

const endpoints = (m: MeshModel | undefined, service: string): string[] =>
  (m?.services.get(service)?.endpoints ?? []).map((e) => `${e.host}:${e.port}`).sort();

/** What routing and balancing read of a service; `origin` and ordering details aside. */
function essentials(s: ServiceModel): unknown {
  return {
    name: s.name,
    protocol: s.protocol,
    port: s.port,
    loadBalancer: s.loadBalancer,
    subsets: [...s.subsets].sort(([a], [b]) => a.localeCompare(b)),
    endpoints: s.endpoints
      .map((e) => ({ host: e.host, port: e.port, labels: e.labels, weight: e.weight, zone: e.zone, healthy: e.healthy }))
      .sort((a, b) => `${a.host}:${a.port}`.localeCompare(`${b.host}:${b.port}`)),
    outlierDetection: s.outlierDetection,
    routes: s.routes,
  };
}

describe.each(['delta', 'sotw'] as const)('xDS client against the control plane (%s)', (mode) => {
  it('builds the same services, routes and endpoints as file mode', async () => {
    const file = await meshFile(MESH);
    const cp = await controlPlane(file);
    const c = client({ servers: [`127.0.0.1:${cp.xdsPort}`], mode });
    const fromXds = await c.ready();
    const fromFile = await loadMeshFile(file);
    expect([...fromXds.services.keys()].sort()).toEqual([...fromFile.services.keys()].sort());
    for (const name of fromFile.services.keys()) {
      expect(essentials(fromXds.services.get(name)!), name).toEqual(essentials(fromFile.services.get(name)!));
    }
    expect(fromXds.mesh).toEqual(fromFile.mesh);
    // Equal content gives an equal version: nothing was lost or added on the way through xDS.
    expect(fromXds.version).toBe(fromFile.version);
    expect(c.status()).toMatchObject({ connectedTo: `127.0.0.1:${cp.xdsPort}`, mode });
  });

  it('sees a mesh.yaml edit in under a second', async () => {
    const file = await meshFile(MESH);
    const cp = await controlPlane(file);
    const c = client({ servers: [`127.0.0.1:${cp.xdsPort}`], mode });
    await c.ready();
    const started = performance.now();
    const arrived = modelWhere(c, (m) => endpoints(m, 'ratings').includes('127.0.0.1:50053'), 3000);
    await edit(file, MESH.replace('127.0.0.1:50052', '127.0.0.1:50053'));
    await arrived;
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('keeps its model while the control plane is down, then reconnects and resyncs', async () => {
    const file = await meshFile(MESH);
    let cp = await controlPlane(file);
    const port = cp.xdsPort;
    const c = client({ servers: [`127.0.0.1:${port}`], mode, backoff: { initialMs: 50, maxMs: 200 } });
    const before = await c.ready();
    let models = 0;
    c.on('model', () => models++);

    const down = once(c, 'disconnected', { signal: AbortSignal.timeout(5000) });
    await cp.close();
    await down;
    // Down for a while, through several failed reconnects: the model stays.
    await new Promise((r) => setTimeout(r, 400));
    expect(c.model).toBe(before);
    expect(models).toBe(0);

    await edit(file, MESH.replace('127.0.0.1:50052', '127.0.0.1:50054'));
    const resynced = modelWhere(c, (m) => endpoints(m, 'ratings').includes('127.0.0.1:50054'));
    const reconnected = once(c, 'connected', { signal: AbortSignal.timeout(5000) });
    cp = await controlPlane(file, port);
    await reconnected;
    const after = await resynced;
    expect(endpoints(after, 'reviews')).toEqual(endpoints(before, 'reviews'));
    expect(models).toBe(1);
  });
});

describe('self-registration against the control plane', () => {
  it('a registered instance joins its service for other clients and leaves at once on close', async () => {
    const file = await meshFile(MESH);
    const cp = await controlPlane(file);
    const servers = [`127.0.0.1:${cp.xdsPort}`];
    const watcher = client({ servers });
    await watcher.ready();
    const instance = new XdsClient({
      servers,
      node: { id: 'reviews-v3-1' },
      registration: { service: 'reviews', host: '127.0.0.1', port: 9083, labels: { version: 'v3' }, zone: 'zone-c' },
    });
    instance.on('warning', () => {});
    cleanups.push(() => instance.close());
    instance.start();
    const joined = await modelWhere(watcher, (m) => endpoints(m, 'reviews').includes('127.0.0.1:9083'));
    const e = joined.services.get('reviews')!.endpoints.find((x) => x.port === 9083)!;
    expect(e.labels).toMatchObject({ version: 'v3' });
    expect(e.zone).toBe('zone-c');

    // Draining skips the control plane's grace period (default 2 s): the instance is gone well before.
    const started = performance.now();
    const left = modelWhere(watcher, (m) => !endpoints(m, 'reviews').includes('127.0.0.1:9083'), 3000);
    await instance.close();
    await left;
    expect(performance.now() - started).toBeLessThan(1500);
  });
});
