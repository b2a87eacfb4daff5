/** Several Consul datacenters (`--consul-dc dc1,dc2`): each one's instances, with the datacenter as locality zone. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { until } from '../../helpers/cp/wait.ts';

let consul: ConsulDouble;
let file: MeshFile;
let cp: ControlPlane;

beforeAll(async () => {
  consul = await startConsulDouble({ datacenters: ['east', 'west'] });
  consul.register({ id: 'r-east', name: 'reviews', address: '127.0.0.1', port: 9301, tags: ['version=v1'], dc: 'east' });
  consul.register({ id: 'r-west', name: 'reviews', address: '127.0.0.1', port: 9302, tags: ['version=v1'], dc: 'west' });
  file = await createMeshFile(reviewsYaml({}));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, consul: { address: consul.url, datacenters: ['east', 'west'], waitMs: 2000 } });
});

afterAll(async () => {
  await cp?.close();
  await consul?.close();
  await file?.remove();
});

it('serves the instances of every datacenter, zoned by datacenter', async () => {
  const eps = () => cp.cache.model()?.services.get('reviews')?.endpoints ?? [];
  await until(() => eps().length === 2, 5000, 'instances of both datacenters');
  expect(eps().map((e) => [e.port, e.zone])).toEqual([
    [9301, 'east'],
    [9302, 'west'],
  ]);
  consul.setStatus('r-west', 'critical');
  await until(() => eps().length === 1, 3000, 'west instance gone');
  expect(eps()[0]!.zone).toBe('east');
});

it('an unknown datacenter is reported as a source error', async () => {
  const other = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, startupHoldMs: 0, consul: { address: consul.url, datacenters: ['north'], waitMs: 2000, backoff: { baseMs: 100, maxMs: 200 } } });
  try {
    await until(() => other.consul!.status.up === false, 3000, 'source down');
    expect(other.consul!.view().error).toMatch(/catalog\/services@north: HTTP 500: No path to datacenter/);
  } finally {
    await other.close();
  }
});
