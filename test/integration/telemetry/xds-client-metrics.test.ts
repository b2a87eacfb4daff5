/**
 * The SDK's link to the control plane as metrics, scraped from an application
 * in control-plane mode: ACKs per resource type with each type's version,
 * the config version in force, the stream state per server; then a NACK
 * (an invalid cluster pushed by an ADS server the test scripts), and a
 * reconnect to the second replica when the first goes away.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { CLUSTER } from '../../../src/xds/type-urls.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { snapshotOf, startScriptedAds, tamper, type ScriptedAds } from '../../helpers/cp/scripted-ads.ts';
import { until } from '../../helpers/cp/wait.ts';

let mesh: Mesh | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
});
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

function series(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels: Record<string, string> = {};
    for (const m of line.matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

function value(text: string, name: string, labels: Record<string, string>): number {
  return series(text, name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

it('counts ACKs per type and shows the versions in force and the connection to a real control plane', async () => {
  const file: MeshFile = await createMeshFile(reviewsYaml({ endpoints: { v1: '127.0.0.1:9', v2: '127.0.0.1:10' }, split: [100, 0] }));
  closers.push(() => file.remove());
  const cp: ControlPlane = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, log: silentLogger });
  closers.push(() => cp.close());
  const server = `127.0.0.1:${cp.xdsPort}`;
  mesh = await init({ service: { name: 'productpage' }, controlPlane: `xds://${server}`, hooks: { grpc: false } });
  await mesh.ready;
  const m = mesh;
  await until(async () => value(await m.metrics(), 'enmesh_xds_acks_total', { type: 'route' }) >= 1, 5000, 'route ACK');

  const text = await mesh.metrics();
  for (const type of ['listener', 'route', 'cluster', 'endpoint']) {
    expect(value(text, 'enmesh_xds_acks_total', { type }), type).toBeGreaterThanOrEqual(1);
    const versions = series(text, 'enmesh_xds_config_version_info').filter((s) => s.labels.type === type);
    expect(versions, type).toHaveLength(1);
    expect(versions[0]!.value).toBe(1);
  }
  expect(value(text, 'enmesh_xds_nacks_total', {})).toBe(0);
  expect(series(text, 'enmesh_xds_config_info')).toEqual([{ labels: { version: mesh.config()!.version }, value: 1 }]);
  expect(value(text, 'enmesh_control_plane_connected', { server })).toBe(1);
  expect(value(text, 'enmesh_xds_connection_state', { server, state: 'connected' })).toBe(1);
  expect(value(text, 'enmesh_xds_connection_state', { server, state: 'connecting' })).toBe(0);
  expect(value(text, 'enmesh_xds_reconnects_total', {})).toBe(0);

  // A config change moves the version series (one at a time) and counts more ACKs.
  const acks = value(text, 'enmesh_xds_acks_total', { type: 'route' });
  const before = mesh.config()!.version;
  await file.write(reviewsYaml({ endpoints: { v1: '127.0.0.1:9', v2: '127.0.0.1:10' }, split: [50, 50] }));
  await until(() => m.config()!.version !== before, 10_000, 'new config');
  await until(async () => value(await m.metrics(), 'enmesh_xds_acks_total', { type: 'route' }) > acks, 5000, 'route ACK of the change');
  const after = await mesh.metrics();
  expect(series(after, 'enmesh_xds_config_info')).toEqual([{ labels: { version: mesh.config()!.version }, value: 1 }]);
  expect(series(after, 'enmesh_xds_config_version_info').filter((s) => s.labels.type === 'route')).toHaveLength(1);
});

it('counts a NACK by type, and a reconnect to the other replica when the first goes away', async () => {
  const yaml = reviewsYaml({ endpoints: { v1: '127.0.0.1:9', v2: '127.0.0.1:10' }, split: [100, 0] });
  const good = snapshotOf(yaml);
  const a: ScriptedAds = await startScriptedAds(good);
  const b: ScriptedAds = await startScriptedAds(good);
  closers.push(() => a.close(), () => b.close());
  const servers = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
  mesh = await init({ service: { name: 'productpage' }, controlPlane: servers.map((s) => `xds://${s}`), hooks: { grpc: false } });
  const warnings: Error[] = [];
  mesh.on('error', (e) => warnings.push(e)); // the NACK and the lost stream are reported here too
  await mesh.ready;
  const m = mesh;
  const connectedTo = async (): Promise<string | undefined> => {
    const text = await m.metrics();
    return servers.find((s) => value(text, 'enmesh_xds_connection_state', { server: s, state: 'connected' }) === 1);
  };
  await until(async () => (await connectedTo()) !== undefined, 5000, 'connected');
  const first = (await connectedTo())!;
  const other = servers.find((s) => s !== first)!;
  const [live] = first === servers[0] ? [a] : [b];
  // Both replicas are listed from the start; the one not used is disconnected.
  expect(value(await mesh.metrics(), 'enmesh_xds_connection_state', { server: other, state: 'disconnected' })).toBe(1);

  const version = mesh.config()!.version;
  live!.serve(tamper(good, CLUSTER, 'outbound|9080|v1|reviews', (c) => (c.lb_policy = 'MAGLEV')));
  await until(async () => value(await m.metrics(), 'enmesh_xds_nacks_total', { type: 'cluster' }) === 1, 5000, 'cluster NACK');
  const text = await mesh.metrics();
  expect(value(text, 'enmesh_xds_nacks_total', {})).toBe(1);
  expect(warnings.some((w) => w.message.includes('MAGLEV'))).toBe(true);
  expect(mesh.config()!.version).toBe(version);
  expect(series(text, 'enmesh_xds_config_info')).toEqual([{ labels: { version }, value: 1 }]);

  await live!.close();
  await until(async () => (await connectedTo()) === other, 15_000, 'connected to the other replica');
  const later = await mesh.metrics();
  expect(value(later, 'enmesh_xds_reconnects_total', {})).toBeGreaterThanOrEqual(1);
  expect(value(later, 'enmesh_xds_reconnects_total', { server: other })).toBeGreaterThanOrEqual(1);
  expect(value(later, 'enmesh_xds_connection_state', { server: first, state: 'connected' })).toBe(0);
  expect(value(later, 'enmesh_control_plane_connected', { server: first })).toBe(0);
  expect(value(later, 'enmesh_control_plane_connected', { server: other })).toBe(1);
});
