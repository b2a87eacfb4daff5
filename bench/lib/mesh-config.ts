/**
 * The mesh the data-plane benchmarks run through: a route matched on a path
 * prefix to a subset, round-robin, a route timeout and a retry policy that
 * never fires. With `resilience`, the whole stack is armed too (connection
 * pool limits, outlier detection, circuit breaker), every threshold far above
 * what a healthy 50-concurrent run reaches. Everything armed, nothing
 * triggering: only the bookkeeping is measured.
 */
export function benchMeshYaml(upstreamAddress: string, options: { resilience?: boolean } = {}): string {
  const resilience = options.resilience === true
    ? `    connectionPool: { maxRequests: 10000, maxPendingRequests: 10000, maxConnections: 1000 }
    outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
    circuitBreaker: { errorThresholdPercent: 50, volumeThreshold: 20, window: 10s, resetTimeout: 10s }
`
    : '';
  return `
services:
  bench:
    protocol: http
    port: 8080
    endpoints:
      - { address: ${upstreamAddress}, labels: { version: v1 } }
    subsets:
      v1: { version: v1 }
${resilience}    routes:
      - name: api
        match: { path: { prefix: /api } }
        backends: [{ subset: v1 }]
        timeout: 5s
        retries: { attempts: 2, on: [5xx, reset, connect-failure] }
      - name: default
        backends: [{ subset: v1 }]
`;
}
