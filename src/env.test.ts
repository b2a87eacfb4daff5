import { describe, expect, it } from 'vitest';
import { optionsFromEnv, parseLabels } from './env.ts';

describe('optionsFromEnv', () => {
  it('reads every ENMESH_* variable', () => {
    expect(
      optionsFromEnv({
        ENMESH_SERVICE: 'reviews',
        ENMESH_PORT: '9080',
        ENMESH_LABELS: 'version=v2, team=blue',
        ENMESH_ZONE: 'zone-a',
        ENMESH_HOST: '10.0.0.5',
        ENMESH_CONFIG: './mesh.yaml',
        ENMESH_CONTROL_PLANE: 'xds://a:15010, xds://b:15010',
        ENMESH_XDS_MODE: 'sotw',
      }),
    ).toEqual({
      service: { name: 'reviews', port: 9080, labels: { version: 'v2', team: 'blue' }, zone: 'zone-a', host: '10.0.0.5' },
      config: './mesh.yaml',
      controlPlane: ['xds://a:15010', 'xds://b:15010'],
      xdsMode: 'sotw',
    });
  });

  it('reads telemetry and Redis settings', () => {
    expect(
      optionsFromEnv({ ENMESH_METRICS_PORT: '15090', ENMESH_TRACING: 'zipkin', ENMESH_TRACING_ENDPOINT: 'http://z:9411', ENMESH_TRACING_SAMPLE_RATE: '0.1', ENMESH_REDIS_URL: 'redis://r:6379' }),
    ).toEqual({ metrics: { port: 15090 }, tracing: { exporter: 'zipkin', endpoint: 'http://z:9411', sampleRate: 0.1 }, redis: 'redis://r:6379' });
  });

  it('rejects bad values naming the variable', () => {
    expect(() => optionsFromEnv({ ENMESH_SERVICE: 'a', ENMESH_PORT: '70000' })).toThrow(/ENMESH_PORT/);
    expect(() => optionsFromEnv({ ENMESH_XDS_MODE: 'fast' })).toThrow(/ENMESH_XDS_MODE/);
    expect(() => parseLabels('version')).toThrow(/ENMESH_LABELS/);
    expect(() => optionsFromEnv({ ENMESH_TRACING: 'jaeger' })).toThrow(/ENMESH_TRACING/);
    expect(() => optionsFromEnv({ ENMESH_TRACING: 'otlp', ENMESH_TRACING_SAMPLE_RATE: '2' })).toThrow(/SAMPLE_RATE/);
    expect(() => optionsFromEnv({ ENMESH_METRICS_PORT: 'x' })).toThrow(/ENMESH_METRICS_PORT/);
  });
});
