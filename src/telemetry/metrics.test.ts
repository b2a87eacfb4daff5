import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createMeshMetrics, workloadOf } from './metrics.ts';
import { createControlPlaneMetrics } from './control-plane-metrics.ts';
import type { EndpointModel } from '../model/types.ts';

const SELF = { workload: 'productpage-v1', app: 'productpage', version: 'v1', namespace: 'demo', service: 'productpage' };

function endpoint(labels: Record<string, string>): EndpointModel {
  return Object.freeze({ host: '127.0.0.1', port: 9081, labels, weight: 1, zone: '', healthy: true, origin: 'static' });
}

/** The value of one sample line, found by metric name and a subset of its labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('Istio request metrics', () => {
  it('counts requests by destination and code, with Istio labels', async () => {
    const m = createMeshMetrics({ self: SELF });
    const reviews = m.outbound({ service: 'reviews', workload: 'reviews-v1', version: 'v1' }, 'http', 'none');
    for (let i = 0; i < 3; i++) reviews.record(200, 12, 10, 500);
    reviews.record(503, 2, 0, 19, 'UH');
    const text = await m.registry.metrics();
    expect(sample(text, 'istio_requests_total', { destination_service: 'reviews', response_code: '200' })).toBe(3);
    expect(
      sample(text, 'istio_requests_total', {
        reporter: 'source',
        source_workload: 'productpage-v1',
        source_canonical_service: 'productpage',
        source_version: 'v1',
        destination_workload: 'reviews-v1',
        destination_version: 'v1',
        request_protocol: 'http',
        response_code: '503',
        response_flags: 'UH',
        grpc_response_status: '',
        connection_security_policy: 'none',
        source_principal: 'unknown',
      }),
    ).toBe(1);
    expect(sample(text, 'istio_requests_total', { response_code: '200', response_flags: '-' })).toBe(3);
  });

  it('fills cumulative histogram buckets with sum and count', async () => {
    const m = createMeshMetrics({ self: SELF });
    const p = m.outbound({ service: 'ratings' }, 'grpc');
    p.record(200, 0.3, 5, 100, '', 0);
    p.record(200, 7, 5, 100, '', 0);
    p.record(200, 7000, 5, 2000, '', 0);
    const text = await m.registry.metrics();
    const bucket = (le: string): number | undefined => sample(text, 'istio_request_duration_milliseconds_bucket', { destination_service: 'ratings', le });
    expect([bucket('0.5'), bucket('5'), bucket('10'), bucket('5000'), bucket('10000'), bucket('+Inf')]).toEqual([1, 1, 2, 2, 3, 3]);
    expect(sample(text, 'istio_request_duration_milliseconds_sum', { destination_service: 'ratings' })).toBeCloseTo(7007.3);
    expect(sample(text, 'istio_request_duration_milliseconds_count', { destination_service: 'ratings', grpc_response_status: '0' })).toBe(3);
    expect(sample(text, 'istio_response_bytes_bucket', { destination_service: 'ratings', le: '1000' })).toBe(2);
    expect(sample(text, 'istio_request_bytes_sum', { destination_service: 'ratings' })).toBe(15);
  });

  it('hands out one PeerStats per label set and derives endpoint workloads', async () => {
    const m = createMeshMetrics({ self: SELF, trustDomain: 'demo.local' });
    const ep = endpoint({ version: 'v2' });
    const a = m.outboundToEndpoint('reviews', ep, 'http', 'mutual_tls');
    expect(m.outboundToEndpoint('reviews', ep, 'http', 'mutual_tls')).toBe(a);
    expect(m.outbound({ ...workloadOf('reviews', { version: 'v2' }, 'spiffe://demo.local/service/reviews'), service: 'reviews' }, 'http', 'mutual_tls')).toBe(a);
    a.record(200, 1, 1, 1);
    const text = await m.registry.metrics();
    expect(
      sample(text, 'istio_requests_total', {
        destination_workload: 'reviews-v2',
        destination_version: 'v2',
        destination_canonical_revision: 'v2',
        destination_principal: 'spiffe://demo.local/service/reviews',
        connection_security_policy: 'mutual_tls',
      }),
    ).toBe(1);
  });

  it('records inbound requests with reporter destination and this process as destination', async () => {
    const m = createMeshMetrics({ self: SELF });
    m.inbound({ principal: 'spiffe://demo.local/service/gateway', workload: 'gateway' }, 'http', 'mutual_tls').record(404, 1, 0, 9);
    const text = await m.registry.metrics();
    expect(
      sample(text, 'istio_requests_total', {
        reporter: 'destination',
        source_workload: 'gateway',
        source_principal: 'spiffe://demo.local/service/gateway',
        destination_service: 'productpage',
        destination_workload: 'productpage-v1',
        response_code: '404',
      }),
    ).toBe(1);
  });

  it('caps distinct label sets and counts what overflowed', async () => {
    const m = createMeshMetrics({ self: SELF, maxLabelSets: 3 });
    const p = m.outbound({ service: 'reviews' }, 'http');
    for (const code of [200, 201, 202, 203, 204, 204]) p.record(code, 1, 0, 0);
    expect(m.requests.labelSets).toBe(3);
    expect(m.requests.droppedLabelSets).toBe(2);
    const text = await m.registry.metrics();
    expect(sample(text, 'istio_requests_total', { reporter: 'source', destination_service: 'overflow', response_code: 'overflow' })).toBe(3);
    expect(sample(text, 'istio_requests_total', { response_code: '202' })).toBe(1);
    expect(text).toContain('enmesh_metrics_label_sets_dropped_total 2');
  });

  it('uses its own registry, not prom-client\'s global one', async () => {
    const a = createMeshMetrics({ self: SELF });
    const b = createMeshMetrics({ self: SELF });
    a.outbound({ service: 'x' }, 'http').record(200, 1, 1, 1);
    expect(await b.registry.metrics()).not.toContain('destination_service="x"');
    const shared = new Registry();
    const c = createMeshMetrics({ self: SELF, registry: shared });
    expect(c.registry).toBe(shared);
  });
});

describe('enmesh_* metrics', () => {
  it('exposes the decision counters under stable names', async () => {
    const m = createMeshMetrics({ self: SELF });
    m.enmesh.retries.inc({ destination_service: 'reviews', route: 'default' });
    m.enmesh.authzDenials.inc({ destination_service: 'ratings', policy: 'deny-all', dry_run: 'true' });
    m.enmesh.faultsInjected.inc({ destination_service: 'reviews', route: 'default', kind: 'abort' }, 2);
    m.enmesh.setXdsConfigVersion('v1');
    m.enmesh.setXdsConfigVersion('v2');
    const text = await m.registry.metrics();
    expect(sample(text, 'enmesh_retries_total', { destination_service: 'reviews', route: 'default' })).toBe(1);
    expect(sample(text, 'enmesh_authz_denials_total', { policy: 'deny-all', dry_run: 'true' })).toBe(1);
    expect(sample(text, 'enmesh_faults_injected_total', { kind: 'abort' })).toBe(2);
    expect(sample(text, 'enmesh_xds_config_info', { version: 'v2' })).toBe(1);
    expect(sample(text, 'enmesh_xds_config_info', { version: 'v1' })).toBeUndefined();
    for (const name of [
      'enmesh_retry_budget_exhausted_total',
      'enmesh_hedges_total',
      'enmesh_circuit_breaker_state_changes_total',
      'enmesh_outlier_ejections_total',
      'enmesh_rate_limited_total',
      'enmesh_cert_expiry_seconds',
      'enmesh_xds_acks_total',
      'enmesh_xds_nacks_total',
      'enmesh_control_plane_connected',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('gives the control plane a registry of its own', async () => {
    const cp = createControlPlaneMetrics();
    cp.nacks.inc({ type: 'cluster' });
    cp.pushLatency.observe({ type: 'cluster' }, 12);
    cp.setModelVersion('abc');
    const text = await cp.registry.metrics();
    expect(sample(text, 'enmesh_control_plane_nacks_total', { type: 'cluster' })).toBe(1);
    expect(sample(text, 'enmesh_control_plane_push_latency_milliseconds_bucket', { type: 'cluster', le: '25' })).toBe(1);
    expect(sample(text, 'enmesh_control_plane_model_info', { version: 'abc' })).toBe(1);
  });
});
