/**
 * mesh.yaml is watched: a valid edit changes routing live without a restart;
 * an invalid edit is reported with file and key path and the old config stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, isEnmeshError, type Mesh } from '../../src/index.ts';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { runMany } from '../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let v1: Backend;
let v2: Backend;
let mesh: Mesh;
let file: MeshFile;

const yaml = (w1: number, w2: number): string => `
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: ${v1.address}, labels: { version: v1 } }
      - { address: ${v2.address}, labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    routes:
      - backends: [{ subset: v1, weight: ${w1} }, { subset: v2, weight: ${w2} }]
`;

async function shareOfV2(n: number): Promise<number> {
  const bodies = await runMany(n, 20, async () => (await fetch('http://reviews:9080/')).text());
  return bodies.filter((b) => b === 'v2').length / n;
}

beforeAll(async () => {
  [v1, v2] = await Promise.all([startBackend('v1'), startBackend('v2')]);
  file = await createMeshFile(yaml(100, 0));
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  await Promise.all([v1?.close(), v2?.close()]);
  await file?.remove();
});

describe('live config', () => {
  it('applies a weight change without restarting', async () => {
    expect(await shareOfV2(200)).toBe(0);
    const before = mesh.config()!.version;
    await file.apply(mesh, yaml(0, 100));
    expect(mesh.config()!.version).not.toBe(before);
    expect(await shareOfV2(200)).toBe(1);
    await file.apply(mesh, yaml(50, 50));
    const share = await shareOfV2(1000);
    expect(share).toBeGreaterThan(0.45);
    expect(share).toBeLessThan(0.55);
  });

  it('rejects an invalid edit with file and key path, and keeps the previous config', async () => {
    await file.apply(mesh, yaml(0, 100));
    const good = mesh.config()!.version;
    const errors: Error[] = [];
    mesh.on('error', (e) => errors.push(e));
    await file.write(yaml(0, 100).replace('weight: 100', 'weigth: 100'));
    const deadline = performance.now() + 5000;
    while (errors.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(errors).toHaveLength(1);
    const err = errors[0]!;
    expect(isEnmeshError(err)).toBe(true);
    expect((err as { code?: string }).code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect(err.message).toContain(file.path);
    expect(err.message).toContain('services.reviews.routes[0].backends[1]');
    expect(err.message).toContain('weight');
    expect(mesh.config()!.version).toBe(good);
    expect(await shareOfV2(100)).toBe(1);
  });

  it('init() rejects an invalid file naming file and key path', async () => {
    const bad = await createMeshFile('services:\n  reviews:\n    protocol: http\n    port: nope\n');
    try {
      await expect(init({ config: bad.path, hooks: { undici: false, http: false } })).rejects.toMatchObject({
        code: 'ENMESH_ERR_CONFIG_INVALID',
        message: expect.stringContaining('services.reviews.port'),
      });
    } finally {
      await bad.remove();
    }
  });
});
