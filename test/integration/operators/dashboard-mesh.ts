/**
 * Meshes for the dashboard tests: the example application's shape with real
 * backends, and a 50-service mesh whose call graph is fed to the control
 * plane's load aggregator as the SDK's own load store reports it.
 */
import type { LoadAggregator } from '../../../src/control-plane/lrs/index.ts';
import { LoadStore } from '../../../src/telemetry/load-stats.ts';
import { clusterName } from '../../../src/xds/resource-names.ts';

/** bookinfo as examples/bookinfo/mesh.yaml has it, with static endpoints and ratings over HTTP. */
export function bookinfoYaml(a: { productpage: string; details: string; reviewsV1: string; reviewsV2: string; ratings: string }): string {
  return `mesh:
  name: bookinfo
services:
  productpage:
    protocol: http
    port: 9080
    endpoints: [{ address: "${a.productpage}", labels: { version: v1 } }]
  details:
    protocol: http
    port: 9080
    endpoints: [{ address: "${a.details}", labels: { version: v1 } }]
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: "${a.reviewsV1}", labels: { version: v1 } }
      - { address: "${a.reviewsV2}", labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    routes:
      - name: canary-by-header
        match: { headers: { x-canary: "true" } }
        backends: [{ subset: v2 }]
      - name: default
        backends: [{ subset: v1, weight: 80 }, { subset: v2, weight: 20 }]
        timeout: 2s
  ratings:
    protocol: http
    port: 9080
    endpoints: [{ address: "${a.ratings}", labels: { version: v1 } }]
`;
}

export interface BigMesh {
  readonly yaml: string;
  readonly services: readonly string[];
  /** Who calls whom. */
  readonly edges: readonly (readonly [string, string])[];
}

/**
 * 50 services in four tiers (1 gateway, 8 front ends, 16 middle, 25 back
 * ends; 4 of the back ends take no traffic), every service with two endpoints
 * and a v1/v2 split, names of realistic length.
 */
export function bigMesh(): BigMesh {
  const gateway = ['edge-gateway'];
  const front = ['web-storefront', 'mobile-api', 'partner-api', 'admin-console', 'search-frontend', 'checkout-web', 'account-portal', 'graphql-gateway'];
  const middle = Array.from({ length: 16 }, (_, i) => `${['catalog', 'pricing', 'inventory', 'recommendations', 'cart', 'orders', 'payments', 'shipping'][i % 8]}-svc-${Math.floor(i / 8) + 1}`);
  const back = Array.from({ length: 25 }, (_, i) => `${['postgres-proxy', 'redis-cache', 'kafka-bridge', 'blob-store', 'ledger', 'fraud-scoring', 'email-sender'][i % 7]}-${Math.floor(i / 7) + 1}`);
  const services = [...gateway, ...front, ...middle, ...back];
  const edges: [string, string][] = [];
  for (const f of front) edges.push([gateway[0]!, f]);
  front.forEach((f, i) => {
    for (let k = 0; k < 3; k++) edges.push([f, middle[(i * 2 + k * 5) % middle.length]!]);
  });
  middle.forEach((m, i) => {
    for (let k = 0; k < 2; k++) edges.push([m, back[(i + k * 7) % 21]!]);
  });
  const lines = ['mesh:', '  name: fifty', 'services:'];
  services.forEach((name, i) => {
    lines.push(
      `  ${name}:`,
      '    protocol: http',
      '    port: 8080',
      '    endpoints:',
      `      - { address: "127.0.0.1:${20000 + 2 * i}", labels: { version: v1 } }`,
      `      - { address: "127.0.0.1:${20001 + 2 * i}", labels: { version: v2 } }`,
      '    subsets: { v1: { version: v1 }, v2: { version: v2 } }',
      '    routes:',
      '      - name: default',
      '        backends: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]',
    );
  });
  return { yaml: `${lines.join('\n')}\n`, services, edges: [...new Map(edges.map((e) => [e.join('>'), e] as const)).values()] };
}

/**
 * Reports one interval of calls along every edge, the way an SDK's load
 * store reports them (counts, outcomes and latency buckets), from one
 * reporter per calling service.
 */
export function reportLoad(aggregator: LoadAggregator, edges: readonly (readonly [string, string])[], round: number): void {
  const bySource = new Map<string, string[]>();
  for (const [from, to] of edges) (bySource.get(from) ?? bySource.set(from, []).get(from)!).push(to);
  let n = 0;
  for (const [source, destinations] of bySource) {
    let clock = 0;
    const store = new LoadStore(() => clock);
    destinations.forEach((to, i) => {
      const l = store.locality(clusterName(to, 8080, 'v1'));
      const calls = 20 + ((n + i) * 7) % 60;
      for (let c = 0; c < calls; c++) {
        l.start();
        // A few services fail some calls so the colours differ.
        l.end(!(to.startsWith('fraud') && c % 9 === 0), 2 + ((c * 13 + round) % 40));
      }
    });
    clock = 1000;
    const reporter = { id: `r-${source}`, nodeId: `sidecar~127.0.0.1~${source}-1~default.svc`, service: source, client: 'enmesh' };
    if (round === 0) aggregator.connect(reporter);
    // The aggregator reads proto-loader's shapes; the store writes grpc-js's; they agree field for field.
    aggregator.ingest(reporter, store.take());
    n++;
  }
}
