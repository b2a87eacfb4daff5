/**
 * Bad input to the control plane: malformed YAML, a route to an unknown
 * subset or service, a file over the 1 MiB limit. A running control plane
 * rejects each with the file and key path at /api/v1/config/errors and keeps
 * serving the previous snapshot (a connected application's model does not
 * move); `enmesh control-plane` started on such a file exits non-zero and says why.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { spawnControlPlane } from '../../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../../helpers/cp/control-plane-process.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';

const BIN = fileURLToPath(new URL('../../../bin/enmesh.js', import.meta.url));

let v1: Backend;
let file: MeshFile;
let cp: ControlPlaneProcess;
let sdk: SdkProcess;

const good = (): string => reviewsYaml({ endpoints: { v1: v1.address } });

const MALFORMED = 'services:\n  reviews:\n    protocol: http\n    port: [9080\n';
const UNKNOWN_SUBSET = `${reviewsYaml({ endpoints: { v1: '127.0.0.1:1' } })}    routes:\n      - name: default\n        backends: [{ subset: v3 }]\n`;
const UNKNOWN_SERVICE = `${reviewsYaml({ endpoints: { v1: '127.0.0.1:1' } })}    routes:\n      - name: default\n        backends: [{ service: ratings }]\n`;
function oversize(): string {
  const lines = ['services:', '  reviews:', '    protocol: http', '    port: 9080', '    endpoints:'];
  let size = 0;
  for (let i = 0; size <= 1.1 * 1024 * 1024; i++) {
    const line = `      - { address: "10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9080" }`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

interface BadCase {
  readonly name: string;
  readonly yaml: () => string;
  /** Key path of the issue ('' for the whole document). */
  readonly path: RegExp;
  readonly message: RegExp;
}

const CASES: readonly BadCase[] = [
  { name: 'malformed YAML', yaml: () => MALFORMED, path: /^line \d+, column \d+$/, message: /YAML syntax error/ },
  { name: 'a route to an unknown subset', yaml: () => UNKNOWN_SUBSET, path: /^services\.reviews\.routes\[0\]\.backends\[0\]\.subset$/, message: /unknown subset "v3"/ },
  { name: 'a route to an unknown service', yaml: () => UNKNOWN_SERVICE, path: /^services\.reviews\.routes\[0\]\.backends\[0\]\.service$/, message: /unknown service "ratings"/ },
  { name: 'a file over 1 MiB', yaml: oversize, path: /^$/, message: /the limit is 1048576 bytes/ },
];

interface ConfigErrorReply {
  error: null | { kind: string; file: string; message: string; issues: { path: string; message: string }[]; at: string };
}

beforeAll(async () => {
  v1 = await startBackend('v1');
  file = await createMeshFile(good());
  cp = await spawnControlPlane({ config: file.path });
  sdk = await spawnSdk({ controlPlane: [cp.url], service: 'productpage' });
  await sdk.waitForConfig((c) => c.services.reviews?.endpoints[0] === v1.address, 15_000);
});

afterAll(async () => {
  await sdk?.kill();
  await cp?.kill();
  await file?.remove();
  await v1?.close();
});

describe('a running control plane', () => {
  it.each(CASES)('rejects $name with file and key path, and keeps serving the previous snapshot', async (c) => {
    const snapshotBefore = await cp.admin('/api/v1/snapshot');
    const health = await cp.admin<{ modelVersion: string; configVersion: string }>('/healthz');
    const configs = sdk.configs.length;

    await file.write(c.yaml());
    let reply: ConfigErrorReply = { error: null };
    await until(async () => (reply = await cp.admin<ConfigErrorReply>('/api/v1/config/errors')).error !== null, 5000, 'config error shown', 50);
    const error = reply.error!;
    expect(error.kind).toBe('config');
    expect(error.file).toBe(file.path);
    expect(error.message).toContain(file.path);
    expect(error.issues.length).toBeGreaterThan(0);
    expect(error.issues[0]!.path).toMatch(c.path);
    expect(error.issues[0]!.message).toMatch(c.message);

    // Nothing of it is published: same snapshot, same versions, no push to the client.
    await sleep(300);
    expect(await cp.admin('/api/v1/snapshot')).toEqual(snapshotBefore);
    expect(await cp.admin('/healthz')).toEqual({ status: 'ok', ...health });
    expect(sdk.configs.length).toBe(configs);
    const served = await sdk.load({ url: 'http://reviews:9080/', count: 20, concurrency: 2, maxMs: 5000 }).result;
    expect(served.ok).toBe(20);

    // Fixing the file clears the error.
    await file.write(good());
    await until(async () => (await cp.admin<ConfigErrorReply>('/api/v1/config/errors')).error === null, 5000, 'config error cleared', 50);
    expect(sdk.configs.length).toBe(configs);
  });

  it('still takes a valid edit after all that', async () => {
    const v2 = await startBackend('v2');
    try {
      const from = sdk.configs.length;
      await file.write(reviewsYaml({ endpoints: { v2: v2.address } }));
      await sdk.waitForConfig((c) => c.services.reviews?.endpoints.join() === v2.address, 5000, from);
      const r = await sdk.load({ url: 'http://reviews:9080/', count: 20, concurrency: 2, maxMs: 5000 }).result;
      expect(r.byBackend).toEqual({ v2: 20 });
    } finally {
      await v2.close();
    }
  });
});

describe('enmesh control-plane started on a bad file', () => {
  function runCli(path: string): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [BIN, 'control-plane', '--config', path, '--xds-port', '0', '--admin-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    return new Promise((resolve) =>
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      }),
    );
  }

  it('exits 1 naming the file, the key path and the problem', async () => {
    const files = await Promise.all(CASES.map((c) => createMeshFile(c.yaml())));
    try {
      const runs = await Promise.all(files.map((f) => runCli(f.path)));
      runs.forEach((run, i) => {
        const c = CASES[i]!;
        expect(run.code, `${c.name}: ${run.stderr}`).toBe(1);
        expect(run.stderr).toContain(files[i]!.path);
        expect(run.stderr).toMatch(c.message);
        if (c.path.source !== '^$') expect(run.stderr).toMatch(new RegExp(c.path.source.slice(1, -1)));
      });
    } finally {
      await Promise.all(files.map((f) => f.remove()));
    }
  });
});
