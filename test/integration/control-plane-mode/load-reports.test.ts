/**
 * An SDK in control-plane mode reports its load (LRS) to the control plane,
 * which shows it per service and per edge (who calls whom) in /api/v1/load.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { runMany } from '../../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let backend: Backend;
let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;

beforeAll(async () => {
  backend = await startBackend('reviews-v1');
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${backend.address}, zone: zone-a }]
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, loadReportIntervalMs: 300, log: { info() {}, warn() {}, error() {} } });
  mesh = await init({ service: { name: 'productpage' }, controlPlane: `xds://127.0.0.1:${cp.xdsPort}` });
  await mesh.ready;
});

afterAll(async () => {
  await mesh?.close();
  await cp?.close();
  await backend?.close();
  await file?.remove();
});

it("shows the SDK's calls per service and edge in the control plane", async () => {
  backend.failNext(4, 503);
  await runMany(40, 4, async () => (await fetch('http://reviews:9080/r')).text());
  type View = { services: { service: string; requests: number; successRate: number | null; inProgress: number }[]; edges: { source: string; destination: string; requests: number }[] };
  let view: View | undefined;
  const until = performance.now() + 8000;
  while (performance.now() < until) {
    view = (await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/load`)).json()) as View;
    const edge = view.edges.find((e) => e.source === 'productpage' && e.destination === 'reviews');
    // Issued and finished: a report can count a request as issued and still in progress, finished in the next.
    const reviews = view.services.find((s) => s.service === 'reviews');
    if (edge !== undefined && edge.requests >= 40 && reviews?.inProgress === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const edge = view!.edges.find((e) => e.source === 'productpage' && e.destination === 'reviews');
  expect(edge?.requests).toBe(40);
  const svc = view!.services.find((s) => s.service === 'reviews');
  expect(svc?.requests).toBe(40);
  expect(svc?.successRate).toBeCloseTo(36 / 40, 2); // the 4 failures the backend gave
});
