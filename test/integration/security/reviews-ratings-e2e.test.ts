/**
 * End to end, in separate processes configured only by ENMESH_* variables:
 * ratings, reviews and details each get an SVID from the control plane's CA
 * and speak mTLS (strict). The policy `from: [{ service: reviews }]` on
 * ratings is matched against the caller's verified SPIFFE ID: reviews may
 * call ratings, details may not (403), and a caller without a certificate
 * cannot even connect.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { whenReady } from '../../helpers/ready-child.ts';
import { freePort } from '../../helpers/free-port.ts';

const SERVICE = fileURLToPath(new URL('./fixtures/mesh-service.ts', import.meta.url));

let file: MeshFile;
let cp: ControlPlane;
const children: ChildProcess[] = [];
const ports: Record<string, { port: number; control: number }> = {};


async function startService(name: string): Promise<void> {
  const { port, control } = ports[name]!;
  const child = spawn(process.execPath, [SERVICE], {
    env: {
      ...process.env,
      ENMESH_SERVICE: name,
      ENMESH_PORT: String(port),
      CONTROL_PORT: String(control),
      ENMESH_CONFIG: file.path,
      ENMESH_TOKEN: await cp.ca!.mintToken(name),
      ENMESH_CA_URL: `http://127.0.0.1:${cp.adminPort}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  await whenReady(child, name);
}

/** Asks `from` (through its control port) to call `url` through its mesh. */
async function callFrom(from: string, url: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${ports[from]!.control}/call?url=${encodeURIComponent(url)}`);
  return res.text();
}

beforeAll(async () => {
  for (const name of ['ratings', 'reviews', 'details']) ports[name] = { port: await freePort(), control: await freePort() };
  const ep = (name: string): string => `[{ address: 127.0.0.1:${ports[name]!.port} }]`;
  file = await createMeshFile(`
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings: { protocol: http, port: 9080, endpoints: ${ep('ratings')} }
  reviews: { protocol: http, port: 9080, endpoints: ${ep('reviews')} }
  details: { protocol: http, port: 9080, endpoints: ${ep('details')} }
policies:
  authorization:
    - name: only-reviews-reads-ratings
      target: ratings
      from: [{ service: reviews }]
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  await Promise.all(['ratings', 'reviews', 'details'].map(startService));
}, 90_000);

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          const t = setTimeout(() => (c.kill('SIGKILL'), resolve()), 5000);
          c.once('exit', () => (clearTimeout(t), resolve()));
          c.kill('SIGTERM');
        }),
    ),
  );
  await cp?.close();
  await file?.remove();
});

it('reviews may call ratings: it arrives as the verified spiffe://demo.local/service/reviews', async () => {
  expect(await callFrom('reviews', 'http://ratings:9080/ratings/1')).toBe('200 spiffe://demo.local/service/reviews');
});

it('details may not: 403 from ratings, matched on the verified identity', async () => {
  expect(await callFrom('details', 'http://ratings:9080/ratings/1')).toBe('403 RBAC: access denied\n');
});

it('ratings may call details (no policy on details), over mTLS', async () => {
  expect(await callFrom('ratings', 'http://details:9080/')).toBe('200 spiffe://demo.local/service/ratings');
});

it('a caller without a certificate cannot connect to ratings (strict)', async () => {
  const outcome = await fetch(`http://127.0.0.1:${ports.ratings!.port}/ratings/1`).then(
    (r) => `status ${r.status}`,
    () => 'refused',
  );
  expect(outcome).toBe('refused');
});
