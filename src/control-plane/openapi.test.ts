import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from './server.ts';
import type { ControlPlane } from './server.ts';
import { documentedRoutes, openApiDocument } from './openapi.ts';
import { createMeshFile } from '../../test/helpers/mesh-file.ts';
import type { MeshFile } from '../../test/helpers/mesh-file.ts';

let file: MeshFile;
let cp: ControlPlane;

beforeAll(async () => {
  file = await createMeshFile('services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: "127.0.0.1:9" }]\n');
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, adminToken: 'openapi-test-token', log: { info() {}, warn() {}, error() {} } });
});

afterAll(async () => {
  await cp?.close();
  await file?.remove();
});

/** A registered path matches a documented one segment by segment; `{x}` matches any segment. */
function documents(doc: string, path: string): boolean {
  const a = doc.split('/');
  const b = path.split('/');
  return a.length === b.length && a.every((seg, i) => seg === b[i] || (seg.startsWith('{') && seg.endsWith('}')));
}

describe('OpenAPI document', () => {
  it('documents every route the control plane registers', () => {
    const documented = documentedRoutes();
    const missing = cp.admin
      .routes()
      .filter((r) => !documented.some((d) => d.method === r.method && documents(d.path, r.path)))
      .map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
    // And the contract's operator routes are all registered (none documented but absent).
    const registered = cp.admin.routes().map((r) => `${r.method} ${r.path}`);
    for (const route of [
      'PUT /api/v1/config',
      'POST /api/v1/services/{service}/routes/{route}/weights',
      'POST /api/v1/services/{service}/endpoints/{endpoint}/drain',
      'GET /api/v1/events',
      'GET /api/v1/policy-state',
      'GET /openapi.json',
    ]) {
      expect(registered).toContain(route);
    }
  });

  it('is served at /openapi.json as OpenAPI 3.1 with the admin token scheme', async () => {
    const res = await fetch(`http://127.0.0.1:${cp.adminPort}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, { security?: unknown; parameters?: { name: string; in: string }[] }>> };
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(doc.openapi).toBe('3.1.0');
    const weights = doc.paths['/api/v1/services/{service}/routes/{route}/weights']!.post!;
    expect(weights.security).toEqual([{ adminToken: [] }]);
    expect(weights.parameters!.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(['service', 'route']);
    // Reads need no token.
    expect(doc.paths['/api/v1/history']!.get!.security).toBeUndefined();
  });
});
