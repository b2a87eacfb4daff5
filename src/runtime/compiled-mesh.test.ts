import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../config/load.ts';
import { NO_HEDGE } from '../resilience/hedge.ts';
import { MeshRuntime } from './mesh-runtime.ts';

function routeRuntimes(yaml: string, origin: string) {
  const runtime = new MeshRuntime();
  runtime.setModel(parseMeshYaml(yaml, 'mesh.yaml'));
  const svc = runtime.compiled!.byOrigin.get(origin)!;
  return new Map(svc.service.routes.map((r) => [r.name, svc.routeRuntime(r)] as const));
}

describe('CompiledMesh route policies', () => {
  it('hedges only idempotent HTTP methods, whatever the retry policy lists, and pays hedges from a budget even without retries', () => {
    const rts = routeRuntimes(
      `
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:1 }, { address: 127.0.0.1:2 }]
    routes:
      - name: every
        match: { path: { prefix: /every } }
        hedge: { delay: 10ms }
        retries: { attempts: 2, methods: ["*"] }
      - name: post
        match: { path: { prefix: /post } }
        hedge: { delay: 10ms }
        retries: { attempts: 2, methods: [POST] }
      - name: alone
        hedge: { delay: 10ms }
`,
      'http://reviews:9080',
    );
    for (const name of ['every', 'post', 'alone']) {
      const hedge = rts.get(name)!.hedge!;
      expect(hedge.delayMs('GET'), name).toBe(10);
      expect(hedge.delayMs('PUT'), name).toBe(10);
      expect(hedge.delayMs('POST'), name).toBe(NO_HEDGE);
    }
    const alone = rts.get('alone')!;
    expect(alone.retry).toBeUndefined();
    expect(alone.budget).toBeDefined();
  });

  it('hedges gRPC calls as the retry policy allows (`*` included)', () => {
    const rts = routeRuntimes(
      `
services:
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:1 }, { address: 127.0.0.1:2 }]
    routes:
      - name: every
        hedge: { delay: 10ms }
        retries: { attempts: 2, methods: ["*"] }
`,
      'http://ratings:50051',
    );
    expect(rts.get('every')!.hedge!.delayMs('POST')).toBe(10);
  });
});

describe('MeshRuntime.setModel', () => {
  it('changes nothing when one half of a model is refused: routing and the inbound gate stay on the previous config', () => {
    const yaml = (port: number): string => `
services:
  ratings:
    protocol: http
    port: ${port}
    endpoints: [{ address: 127.0.0.1:1 }]
policies:
  authorization:
    - name: readers
      target: ratings
      to: [{ paths: [/read/*] }]
`;
    const runtime = new MeshRuntime({ serviceName: 'ratings' });
    runtime.setModel(parseMeshYaml(yaml(9080), 'mesh.yaml'));
    const before = runtime.compiled;
    const next = parseMeshYaml(yaml(9090), 'mesh.yaml');
    // A pattern the loader refuses, as a model from elsewhere might carry it.
    const policy = next.policies.authorization[0]!;
    const bad = { ...next, policies: { ...next.policies, authorization: [{ ...policy, to: [{ ...policy.to![0]!, paths: ['/read/*/x'] }] }] } };
    expect(() => runtime.setModel(bad as typeof next)).toThrow(/not supported/);
    expect(runtime.compiled).toBe(before);
    expect(runtime.compiled!.byOrigin.has('http://ratings:9080')).toBe(true);
    expect(runtime.compiled!.byOrigin.has('http://ratings:9090')).toBe(false);
  });
});
