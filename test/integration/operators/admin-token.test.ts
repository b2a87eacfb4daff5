/**
 * `enmesh control-plane` without --admin-token: it makes a token, logs it
 * once, writes it to --admin-token-file (mode 0600), and that token (and only
 * it) opens the mutating calls; --audit-log gets the audited change.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { until } from '../../helpers/cp/wait.ts';

const CLI = fileURLToPath(new URL('../../helpers/cp/cli-main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let file: MeshFile | undefined;
let dir: string | undefined;
let child: ReturnType<typeof spawn> | undefined;

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    const gone = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
  await file?.remove();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('generates a token, logs it once, writes it 0600, and requires it', async () => {
  file = await createMeshFile('services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: "127.0.0.1:9" }]\n');
  dir = await mkdtemp(join(tmpdir(), 'enmesh-token-'));
  const tokenFile = join(dir, 'admin-token');
  const auditFile = join(dir, 'audit.jsonl');
  const env = { ...process.env };
  delete env.ENMESH_ADMIN_TOKEN;
  child = spawn(
    process.execPath,
    ['--conditions=enmesh-source', CLI, 'control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', '--startup-hold', '0', '--admin-token-file', tokenFile, '--audit-log', auditFile],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await until(() => /admin http:\/\/127\.0\.0\.1:(\d+)/.test(out), 20_000, `control plane start (stderr: ${err})`);
  const base = `http://127.0.0.1:${/admin http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]}`;

  const token = (await readFile(tokenFile, 'utf8')).trim();
  expect(token.length).toBeGreaterThanOrEqual(24);
  expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
  expect(err.split(token).length - 1).toBe(1);
  expect(err).toMatch(/admin token \(generated/);

  const post = (auth?: string): Promise<Response> =>
    fetch(`${base}/api/v1/services/reviews/rate-limit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-enmesh-actor': 'ci', ...(auth === undefined ? {} : { authorization: auth }) },
      body: JSON.stringify({ requestsPerSecond: 50 }),
    });
  expect((await post()).status).toBe(401);
  expect((await post(`Bearer ${token}x`)).status).toBe(401);
  const ok = await post(`Bearer ${token}`);
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { diff: string }).diff).toContain('+    rateLimit: { requestsPerSecond: 50 }');
  await until(async () => (await readFile(auditFile, 'utf8').catch(() => '')).includes('"service.rate-limit"'), 5000, 'audit line written');
  const entry = JSON.parse((await readFile(auditFile, 'utf8')).trim().split('\n').at(-1)!) as { actor: string; result: string; target: string };
  expect(entry).toMatchObject({ actor: 'ci', result: 'applied', target: 'reviews' });
  // The token never lands in the audit log.
  expect(await readFile(auditFile, 'utf8')).not.toContain(token);
}, 40_000);
