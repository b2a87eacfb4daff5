/**
 * The mesh the data-plane benchmarks run through: a route matched on a path
 * prefix to a subset, round-robin, a route timeout and a retry policy that
 * never fires. Everything armed, nothing triggering.
 */
export function benchMeshYaml(upstreamAddress: string): string {
  return `
services:
  bench:
    protocol: http
    port: 8080
    endpoints:
      - { address: ${upstreamAddress}, labels: { version: v1 } }
    subsets:
      v1: { version: v1 }
    routes:
      - name: api
        match: { path: { prefix: /api } }
        backends: [{ subset: v1 }]
        timeout: 5s
        retries: { attempts: 2, on: [5xx, reset, connect-failure] }
      - name: default
        backends: [{ subset: v1 }]
`;
}
