/**
 * The mesh for the cockatiel comparison: the same route as mesh-config.ts
 * with the whole resilience stack armed (connection pool limits, outlier
 * detection, circuit breaker, route timeout, retries), every threshold far
 * above what a healthy 50-concurrent run can reach, so nothing triggers and
 * only the bookkeeping is measured.
 */
export function resilientMeshYaml(upstreamAddress: string): string {
  return `
services:
  bench:
    protocol: http
    port: 8080
    endpoints:
      - { address: ${upstreamAddress}, labels: { version: v1 } }
    subsets:
      v1: { version: v1 }
    connectionPool: { maxRequests: 10000, maxPendingRequests: 10000, maxConnections: 1000 }
    outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
    circuitBreaker: { errorThresholdPercent: 50, volumeThreshold: 20, window: 10s, resetTimeout: 10s }
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
