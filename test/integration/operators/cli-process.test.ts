/**
 * The operator commands as a user runs them: a real `enmesh` process whose
 * stdout is a pipe (so: no colours), with the exit code as the shell sees it.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';

const CLI = fileURLToPath(new URL('../../helpers/cp/cli-main.ts', import.meta.url));

function enmesh(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const clean = { ...process.env };
  for (const k of ['ENMESH_ADMIN', 'ENMESH_ADMIN_TOKEN', 'NO_COLOR']) delete clean[k];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--conditions=enmesh-source', CLI, ...args], { env: { ...clean, ...env }, timeout: 30_000 }, (err, out, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out, err: stderr });
    });
  });
}

let file: MeshFile;
let cp: ControlPlane;

beforeAll(async () => {
  file = await createMeshFile('services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: 127.0.0.1:9081 }]\n');
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, adminToken: 'process-token', log: silentLogger });
});
afterAll(async () => {
  await cp?.close();
  await file?.remove();
});

it('prints plain tables to a pipe and exits 0', async () => {
  const r = await enmesh(['status'], { ENMESH_ADMIN: `http://127.0.0.1:${cp.adminPort}` });
  expect(r.code, r.err).toBe(0);
  expect(r.out).toMatch(/^reviews\s+http\s+9080\s+1\/1\s/m);
  expect(r.out).not.toMatch(/\u001b\[/);
});

it('exits 3 when the control plane cannot be reached, 2 on a usage error, 1 on an invalid file', async () => {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  const down = await enmesh(['get', 'services', '--server', `http://127.0.0.1:${port}`]);
  expect(down.code).toBe(3);
  expect(down.err).toMatch(new RegExp(`cannot reach the control plane at http://127\\.0\\.0\\.1:${port}`));
  const usage = await enmesh(['get', 'everything']);
  expect(usage.code).toBe(2);
  const bad = await createMeshFile('services:\n  reviews: { protocol: http, port: 99999 }\n');
  try {
    const invalid = await enmesh(['validate', bad.path]);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/services\.reviews\.port/);
  } finally {
    await bad.remove();
  }
});
