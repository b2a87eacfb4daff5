import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { ServiceModel } from '../model/types.ts';
import { parseMeshYaml } from './load.ts';

function service(yaml: string): ServiceModel {
  const model = parseMeshYaml(`services:\n  reviews:\n    protocol: http\n    port: 9080\n${yaml.replace(/^/gm, '    ')}\n`, 'mesh.yaml');
  return model.services.get('reviews')!;
}

function issues(yaml: string): string[] {
  try {
    service(yaml);
  } catch (err) {
    if (isEnmeshError(err) && err.issues) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('accepted');
}

describe('resilience keys', () => {
  it('reads a circuit breaker with defaults', () => {
    expect(service('circuitBreaker: {}').circuitBreaker).toEqual({ errorThresholdPercent: 50, volumeThreshold: 20, windowMs: 10_000, resetTimeoutMs: 30_000, halfOpenRequests: 1 });
    expect(service('circuitBreaker: { errorThresholdPercent: 25, volumeThreshold: 5, window: 5s, resetTimeout: 1m, halfOpenRequests: 3 }').circuitBreaker).toEqual({
      errorThresholdPercent: 25,
      volumeThreshold: 5,
      windowMs: 5_000,
      resetTimeoutMs: 60_000,
      halfOpenRequests: 3,
    });
    expect(issues('circuitBreaker: { window: 0s, threshold: 5 }')).toEqual([
      expect.stringContaining('services.reviews.circuitBreaker.threshold: unknown key "threshold"'),
      'services.reviews.circuitBreaker.window: window must be longer than 0s',
    ]);
  });

  it('reads adaptive concurrency with defaults and checks the limits agree', () => {
    expect(service('adaptiveConcurrency: {}').adaptiveConcurrency).toEqual({
      dryRun: false,
      initialLimit: 20,
      minLimit: 1,
      maxLimit: 1000,
      intervalMs: 250,
      tolerance: 1.5,
      maxEventLoopDelayMs: 100,
    });
    expect(service('adaptiveConcurrency: { dryRun: true, maxLimit: 10, maxEventLoopDelay: 0s }').adaptiveConcurrency).toMatchObject({ dryRun: true, initialLimit: 10, maxEventLoopDelayMs: 0 });
    expect(issues('adaptiveConcurrency: { minLimit: 50, maxLimit: 10 }')).toEqual(['services.reviews.adaptiveConcurrency.minLimit: minLimit (50) must not exceed maxLimit (10)']);
    expect(issues('adaptiveConcurrency: { initialLimit: 5000 }')).toEqual([
      'services.reviews.adaptiveConcurrency.initialLimit: initialLimit (5000) must lie between minLimit (1) and maxLimit (1000)',
    ]);
  });

  it('reads success-rate ejection, panic threshold and max ejection time', () => {
    const od = service('outlierDetection: { maxEjectionTime: 5m, panicThreshold: 30, successRate: { requestVolume: 50 } }').outlierDetection;
    expect(od).toMatchObject({ maxEjectionTimeMs: 300_000, panicThresholdPercent: 30, successRate: { minimumHosts: 5, requestVolume: 50, stdevFactor: 1.9 } });
    // Absent keys stay absent: existing configs keep their model (and version).
    expect(service('outlierDetection: {}').outlierDetection).toEqual({ consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 });
  });

  it('reads rate-limit side and descriptors', () => {
    const rl = service(`rateLimit:
  requestsPerSecond: 100
  scope: global
  side: server
  descriptors:
    - { by: header, header: X-User, requestsPerSecond: 5 }
    - { by: source-service, value: frontend, requestsPerSecond: 20, burst: 40 }
    - { by: path, value: /api/search, requestsPerSecond: 0.5 }
    - { by: route, requestsPerSecond: 10 }`).rateLimit;
    expect(rl).toEqual({
      requestsPerSecond: 100,
      burst: 100,
      scope: 'global',
      side: 'server',
      descriptors: [
        { by: 'header', header: 'x-user', requestsPerSecond: 5, burst: 5 },
        { by: 'source-service', value: 'frontend', requestsPerSecond: 20, burst: 40 },
        { by: 'path', value: '/api/search', requestsPerSecond: 0.5, burst: 1 },
        { by: 'route', requestsPerSecond: 10, burst: 10 },
      ],
    });
    expect(service('rateLimit: { requestsPerSecond: 1 }').rateLimit).toEqual({ requestsPerSecond: 1, burst: 1, scope: 'local' });
  });

  it('reports bad descriptors with their paths', () => {
    expect(
      issues(`rateLimit:
  requestsPerSecond: 100
  descriptors:
    - { by: header, requestsPerSecond: 5 }
    - { by: path, value: api, requestsPerSecond: 5 }
    - { by: user, header: x, requestsPerSecond: 5 }`),
    ).toEqual([
      'services.reviews.rateLimit.descriptors[0].header: missing required key "header": set it to the header name, e.g. x-user',
      'services.reviews.rateLimit.descriptors[1].value: a path value is a prefix starting with /, got "api"',
      expect.stringContaining('services.reviews.rateLimit.descriptors[2].by: expected one of source-service | header | path | route'),
      'services.reviews.rateLimit.descriptors[2].header: header is only used with by: header (this descriptor is by: user)',
    ]);
  });

  it('reads hedge percentile (delay then optional) and fault maxActive', () => {
    const routes = service(`routes:
  - name: p
    hedge: { percentile: 95, maxAttempts: 3 }
    fault: { abort: { status: 503, percent: 1 }, maxActive: 10 }
  - name: f
    hedge: { delay: 20ms }`).routes;
    expect(routes[0].hedge).toEqual({ delayMs: 0, maxAttempts: 3, percentile: 95 });
    expect(routes[0].fault).toEqual({ abort: { status: 503, percent: 1 }, maxActive: 10 });
    expect(routes[1].hedge).toEqual({ delayMs: 20, maxAttempts: 2 });
    expect(issues('routes: [{ hedge: { maxAttempts: 2 } }]')).toEqual([expect.stringContaining('services.reviews.routes[0].hedge.delay: missing required key "delay"')]);
    expect(issues('routes: [{ hedge: { percentile: 100 } }]')).toEqual([expect.stringContaining('services.reviews.routes[0].hedge.percentile: expected a latency percentile 1..99.9')]);
  });
});
