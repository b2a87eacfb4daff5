/**
 * The control plane's own metrics at GET /metrics on its admin port, scraped
 * after real clients connected: an application in control-plane mode
 * (delta ADS, self-registration, load reports) and a bare state-of-the-world
 * ADS client that NACKs the clusters it is sent. Every declared series is
 * fed: push latency, pushes, connected clients, NACKs, config errors, model
 * info, registered instances, load reports and their streams.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { CLUSTER } from '../../../src/xds/type-urls.ts';
import { RawAds } from '../../helpers/grpc-xds/raw-ads.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { until } from '../../helpers/cp/wait.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let raw: RawAds<'sotw'> | undefined;

const yaml = (timeout: string): string => `
services:
  productpage:
    protocol: http
    port: 9080
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:9, labels: { version: v1 } }]
    routes:
      - backends: [{ subset: v1 }]
        timeout: ${timeout}
    subsets: { v1: { version: v1 } }
`;

beforeAll(async () => {
  file = await createMeshFile(yaml('2s'));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, log: silentLogger, loadReportIntervalMs: 300, watchDebounceMs: 20 });
  mesh = await init({ service: { name: 'productpage', port: 9081, labels: { version: 'v1' } }, controlPlane: `xds://127.0.0.1:${cp.xdsPort}`, hooks: { grpc: false } });
  await mesh.ready;
});

afterAll(async () => {
  raw?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${cp.adminPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

function value(text: string, name: string, labels: Record<string, string> = {}): number {
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

it('serves every control-plane series, fed by real clients, a NACK, a refused edit and load reports', async () => {
  await until(() => cp.registrations.list().length === 1, 5000, 'registration');
  // The registered instance is published (the model moves once more) before the first scrape.
  await until(() => cp.cache.model()?.services.get('productpage')?.endpoints.length === 1, 5000, 'registration published');
  const TYPES = ['cluster', 'endpoint', 'listener', 'route'];
  await until(async () => {
    const t = await scrape();
    return TYPES.every((type) => value(t, 'enmesh_control_plane_push_latency_milliseconds_count', { type }) >= 1);
  }, 5000, 'first ACKs of every type');
  const first = await scrape();
  expect(value(first, 'enmesh_control_plane_connected_clients', { kind: 'delta', profile: 'enmesh' })).toBe(1);
  expect(value(first, 'enmesh_control_plane_registered_instances', { service: 'productpage' })).toBe(1);
  const modelLines = first.split('\n').filter((l) => l.startsWith('enmesh_control_plane_model_info{'));
  expect(modelLines).toEqual([`enmesh_control_plane_model_info{version="${cp.cache.model()!.version}"} 1`]);
  for (const type of TYPES) {
    expect(value(first, 'enmesh_control_plane_pushes_total', { type }), type).toBeGreaterThanOrEqual(1);
    // The first response of each type was ACKed: its latency is measured from the stream's start.
    expect(value(first, 'enmesh_control_plane_push_latency_milliseconds_count', { type }), type).toBeGreaterThanOrEqual(1);
  }

  // A bare client that rejects the clusters it is sent.
  raw = new RawAds(cp.xdsPort, 'sotw');
  raw.send({ node: { id: 'nacker~1~x', user_agent_name: 'envoy' }, type_url: CLUSTER, resource_names: [] });
  const clusters = await raw.next((r) => r.type_url === CLUSTER);
  raw.send({ type_url: CLUSTER, version_info: '', resource_names: [], response_nonce: clusters.nonce, error_detail: { code: 3, message: 'rejected by the test' } });
  await until(async () => value(await scrape(), 'enmesh_control_plane_nacks_total', { type: 'cluster' }) === 1, 5000, 'NACK counted');
  const afterNack = await scrape();
  expect(value(afterNack, 'enmesh_control_plane_connected_clients', { kind: 'sotw' })).toBe(1);
  expect(value(afterNack, 'enmesh_control_plane_connected_clients')).toBe(2);
  expect(value(afterNack, 'enmesh_control_plane_nacks_total')).toBe(1);

  // An invalid edit is refused and counted; the model in force stays.
  const version = cp.cache.model()!.version;
  await file.write(yaml('2s') + '\nnot: [valid\n');
  await until(async () => value(await scrape(), 'enmesh_control_plane_config_errors_total') === 1, 5000, 'config error counted');
  expect(cp.cache.model()!.version).toBe(version);

  // A valid edit is published and ACKed: the route push has a latency from publication to ACK.
  const routeAcks = value(afterNack, 'enmesh_control_plane_push_latency_milliseconds_count', { type: 'route' });
  await file.write(yaml('3s'));
  await until(() => mesh.config()?.services.get('reviews')?.routes[0]?.timeoutMs === 3000, 10_000, 'the SDK applied the edit');
  await until(async () => value(await scrape(), 'enmesh_control_plane_push_latency_milliseconds_count', { type: 'route' }) > routeAcks, 5000, 'route ACK measured');
  const text = await scrape();
  const count = value(text, 'enmesh_control_plane_push_latency_milliseconds_count', { type: 'route' });
  expect(value(text, 'enmesh_control_plane_push_latency_milliseconds_bucket', { type: 'route', le: '+Inf' })).toBe(count);
  const sum = value(text, 'enmesh_control_plane_push_latency_milliseconds_sum', { type: 'route' });
  expect(sum).toBeGreaterThanOrEqual(0);
  expect(sum / count).toBeLessThan(10_000);
  expect(text.split('\n').filter((l) => l.startsWith('enmesh_control_plane_model_info{'))).toEqual([
    `enmesh_control_plane_model_info{version="${cp.cache.model()!.version}"} 1`,
  ]);
  expect(cp.cache.model()!.version).not.toBe(version);

  // Load reports from the application's LRS client, once it has load to report (its calls fail: nothing listens there).
  for (let i = 0; i < 3; i++) await (await fetch('http://reviews:9080/')).text();
  await until(async () => value(await scrape(), 'enmesh_control_plane_load_reports_total', { client: 'enmesh' }) >= 1, 10_000, 'load report');
  expect(value(await scrape(), 'enmesh_control_plane_load_report_streams')).toBe(1);

  // The bare client goes away: it is no longer counted.
  raw.close();
  raw = undefined;
  await until(async () => value(await scrape(), 'enmesh_control_plane_connected_clients', { kind: 'sotw' }) === 0, 5000, 'sotw client gone');
});
