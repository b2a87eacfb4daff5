/**
 * The authorization check's cost per request (issue: "the authorization
 * check's cost per request reported"): path normalisation plus the policy
 * decision for an inbound request, synchronous, in this process. A mesh of
 * eight policies on the target (deny first, then allows with sources,
 * methods, path globs and headers) is compiled from mesh.yaml as the SDK
 * does; requests alternate between an allowed and a denied one.
 */
import { parseMeshYaml } from '../../src/config/load.ts';
import { compileAuthorization } from '../../src/security/authz.ts';
import { normalizeRequestTarget } from '../../src/security/path-normalize.ts';

const MESH = `
mesh: { trustDomain: bench.local }
services:
  ratings: { protocol: http, port: 9080, endpoints: [{ address: 127.0.0.1:9 }] }
policies:
  authorization:
    - { name: deny-admin, target: ratings, action: deny, to: [{ paths: [/admin/*, /debug/*] }] }
    - { name: deny-legacy, target: ratings, action: deny, from: [{ service: legacy }] }
    - { name: reviews-read, target: ratings, action: allow, from: [{ service: reviews }], to: [{ methods: [GET, HEAD], paths: [/ratings/*] }] }
    - { name: productpage-read, target: ratings, action: allow, from: [{ service: productpage }], to: [{ methods: [GET], paths: [/ratings/*, /health] }] }
    - { name: ops, target: ratings, action: allow, from: [{ service: ops }], to: [{ methods: [GET, POST, PUT, DELETE] }] }
    - { name: canary, target: ratings, action: allow, from: [{ service: reviews }], to: [{ methods: [POST], paths: [/ratings/*], headers: { x-canary: "true" } }] }
    - { name: batch, target: ratings, action: allow, from: [{ service: batch }], to: [{ paths: [/batch/*] }] }
    - { name: probes, target: ratings, action: allow, to: [{ methods: [GET], paths: [/healthz, /readyz] }] }
`;

export interface AuthzCostResult {
  readonly policies: number;
  /** CPU µs per request: normalise the path, then decide. */
  readonly usPerRequest: number;
}

export function authzCostScenario(iterations = 2_000_000): AuthzCostResult {
  const model = parseMeshYaml(MESH, 'bench-authz.yaml');
  const policies = model.policies.authorization;
  const authorizer = compileAuthorization(policies, { trustDomain: model.mesh.trustDomain });
  const reviews = { spiffeId: 'spiffe://bench.local/service/reviews', service: 'reviews' };
  const headers = { host: 'ratings:9080', 'user-agent': 'bench' };
  const targets = ['/ratings/0001?x=1', '/admin/users'];
  let allowed = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const t = normalizeRequestTarget(targets[i & 1]!);
      if (!t.ok) throw new Error(`authz bench: ${t.message}`);
      if (authorizer.check('ratings', { method: 'GET', path: t.path, headers, peer: reviews }).allowed) allowed++;
    }
  };
  run(iterations / 10);
  const c0 = process.cpuUsage();
  run(iterations);
  const c = process.cpuUsage(c0);
  if (allowed === 0) throw new Error('authz bench: nothing was allowed; the policy set is wrong');
  return { policies: policies.length, usPerRequest: (c.user + c.system) / iterations };
}

export function authzCostTable(r: AuthzCostResult): string {
  return `  ${r.policies} policies on the target: ${r.usPerRequest.toFixed(3)} µs CPU per request (path normalisation + decision)`;
}
