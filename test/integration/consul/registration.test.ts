/**
 * Registrations through Consul:
 * - an SDK configured with `consul` registers its own instance (TTL check it
 *   keeps passing), which the control plane serves from the catalog, and
 *   deregisters on close;
 * - an SDK that registers with a control plane over its ADS stream is written
 *   through to Consul by that replica, so a second replica serves it too, with
 *   the same snapshot version; it leaves both when the instance dies;
 * - a registration made while Consul fails appears within seconds of recovery.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init } from '../../../src/index.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';

let consul: ConsulDouble;
let file: MeshFile;
let replicas: ControlPlane[] = [];
const sdks: SdkProcess[] = [];

const addresses = (cp: ControlPlane): string[] => (cp.cache.model()?.services.get('reviews')?.endpoints ?? []).map((e) => `${e.host}:${e.port}`);

beforeAll(async () => {
  consul = await startConsulDouble();
  file = await createMeshFile(reviewsYaml({}));
  const start = (): Promise<ControlPlane> =>
    startControlPlane({
      config: file.path,
      xdsPort: 0,
      adminPort: 0,
      log: silentLogger,
      ca: false,
      registrationGraceMs: 500,
      consul: { address: consul.url, waitMs: 5000, backoff: { baseMs: 100, maxMs: 1000 }, registrationTtlMs: 3000 },
    });
  replicas = await Promise.all([start(), start()]);
});

afterAll(async () => {
  await Promise.all(sdks.map((s) => s.kill()));
  await Promise.all(replicas.map((r) => r.close()));
  await consul?.close();
  await file?.remove();
});

it('an SDK with `consul` registers its instance with a passing TTL check, and deregisters on close', async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const mesh = await init({
    service: { name: 'reviews', port, labels: { version: 'v2' } },
    config: file.path,
    consul: { address: consul.url, intervalMs: 1000 },
    hooks: { undici: false, http: false, grpc: false },
  });
  try {
    await until(() => consul.instances('reviews').some((i) => i.port === port && i.status === 'passing'), 5000, 'instance registered in Consul');
    const inst = consul.instances('reviews').find((i) => i.port === port)!;
    expect(inst).toMatchObject({ id: `reviews-127.0.0.1-${port}`, address: '127.0.0.1', meta: { version: 'v2' } });
    // Kept passing past several TTLs (1 s).
    await sleep(2500);
    expect(consul.instances('reviews').find((i) => i.port === port)?.status).toBe('passing');
    await until(() => replicas.every((r) => addresses(r).includes(`127.0.0.1:${port}`)), 5000, 'both replicas serve it');
    const ep = replicas[0]!.cache.model()!.services.get('reviews')!.endpoints.find((e) => e.port === port)!;
    expect(ep).toMatchObject({ labels: { version: 'v2' }, origin: 'consul' });
  } finally {
    await mesh.close();
    server.close();
  }
  expect(consul.instances('reviews').some((i) => i.port === port)).toBe(false);
  await until(() => replicas.every((r) => !addresses(r).includes(`127.0.0.1:${port}`)), 5000, 'gone from both replicas');
});

it('an SDK with `consul: { check: "http" }` is checked by the agent over HTTP; without a port it is refused', async () => {
  let healthy = true;
  const server = http.createServer((_req, res) => {
    res.writeHead(healthy ? 200 : 503);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const mesh = await init({
    service: { name: 'reviews', port },
    config: file.path,
    consul: { address: consul.url, check: 'http', httpPath: '/healthz', intervalMs: 1000 },
    hooks: { undici: false, http: false, grpc: false },
  });
  try {
    await until(() => consul.instances('reviews').some((i) => i.port === port && i.status === 'passing'), 5000, 'HTTP check passing');
    healthy = false;
    await until(() => consul.instances('reviews').some((i) => i.port === port && i.status === 'critical'), 5000, 'HTTP check critical');
    await until(() => replicas.every((r) => !addresses(r).includes(`127.0.0.1:${port}`)), 5000, 'unhealthy instance gets no traffic');
  } finally {
    await mesh.close();
    server.close();
  }
  await expect(init({ service: { name: 'reviews' }, config: file.path, consul: { address: consul.url }, hooks: { undici: false, http: false, grpc: false } })).rejects.toThrow(
    /consul registration needs this instance's service name and port/,
  );
});

it('writes an ADS registration through to Consul: every replica serves it, with one snapshot version', async () => {
  const [a, b] = replicas as [ControlPlane, ControlPlane];
  const sdk = await spawnSdk({ controlPlane: [`xds://127.0.0.1:${a.xdsPort}`], service: 'reviews', labels: 'version=v1', serve: 'v1' });
  sdks.push(sdk);
  const address = `127.0.0.1:${sdk.port}`;
  await until(() => addresses(a).includes(address) && addresses(b).includes(address), 10_000, 'registered instance served by both replicas');
  const entry = consul.instances('reviews').find((i) => i.port === sdk.port)!;
  expect(entry.id).toMatch(new RegExp(`^enmesh-reviews-127\\.0\\.0\\.1-${sdk.port}~[0-9a-f]{8}$`));
  expect(entry).toMatchObject({ status: 'passing', meta: { version: 'v1' } });
  await until(() => a.cache.model()?.version === b.cache.model()?.version, 3000, 'replicas agree');
  const snap = (cp: ControlPlane): string | undefined => cp.cache.snapshots().get('enmesh')?.version;
  await until(() => snap(a) !== undefined && snap(a) === snap(b), 3000, 'same snapshot version on both replicas');
  // The instance's own client sees itself as an endpoint.
  await sdk.waitForConfig((c) => c.services.reviews?.endpoints.includes(address) === true, 5000);

  const killed = Date.now();
  await sdk.kill('SIGKILL');
  await until(() => !addresses(a).includes(address) && !addresses(b).includes(address), 5000, 'dead instance left both replicas');
  console.log(`[measure] SIGKILLed instance left both replicas ${Date.now() - killed} ms later (grace 500 ms)`);
  expect(consul.instances('reviews').some((i) => i.port === sdk.port)).toBe(false);
});

it('a registration made while Consul fails appears within seconds of recovery', async () => {
  const [a, b] = replicas as [ControlPlane, ControlPlane];
  consul.failWith(500);
  const sdk = await spawnSdk({ controlPlane: [`xds://127.0.0.1:${b.xdsPort}`], service: 'reviews', labels: 'version=v2', serve: 'v2' });
  sdks.push(sdk);
  const address = `127.0.0.1:${sdk.port}`;
  await until(() => b.registrations.list().some((r) => r.port === sdk.port), 5000, 'registered with the replica');
  await sleep(500);
  expect(addresses(a)).not.toContain(address);
  const recovered = Date.now();
  consul.failWith(0);
  await until(() => addresses(a).includes(address) && addresses(b).includes(address), 8000, 'registration visible after recovery');
  const took = Date.now() - recovered;
  console.log(`[measure] registration made during a Consul outage served by both replicas ${took} ms after recovery`);
  expect(took).toBeLessThan(5000);
});
