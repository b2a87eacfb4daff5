import { describe, expect, it } from 'vitest';
import { BREAKER_OPEN_METRIC, EJECTED_METRIC, LATENCY_METRIC, LoadStore, addPolicyStats, latencyQuantile, readLatency } from './load-stats.ts';
import type { ClusterStatsMessage } from './load-stats.ts';
import { policyReportOf } from './load-reporter.ts';
import { parseMeshYaml } from '../config/load.ts';

describe('LoadStore', () => {
  it('counts per cluster and locality and resets on take, keeping in-progress', () => {
    let now = 0;
    const store = new LoadStore(() => now);
    const a = store.locality('outbound|9080||reviews', { zone: 'z1' });
    expect(store.locality('outbound|9080||reviews', { zone: 'z1' })).toBe(a);
    const b = store.locality('outbound|9080||reviews', { zone: 'z2' });
    for (let i = 0; i < 3; i++) a.start();
    a.end(true, 4);
    a.end(false, 40);
    b.start();
    b.end(true, 1);
    now = 2500;
    const [stats, ...rest] = store.take();
    expect(rest).toEqual([]);
    expect(stats!.cluster_name).toBe('outbound|9080||reviews');
    expect(stats!.load_report_interval).toEqual({ seconds: 2, nanos: 500_000_000 });
    const z1 = stats!.upstream_locality_stats.find((l) => l.locality.zone === 'z1')!;
    expect(z1).toMatchObject({ total_issued_requests: 3, total_successful_requests: 1, total_error_requests: 1, total_requests_in_progress: 1 });
    expect(z1.load_metric_stats).toContainEqual({ metric_name: LATENCY_METRIC, num_requests_finished_with_metric: 2, total_metric_value: 44 });
    expect(z1.load_metric_stats).toContainEqual({ metric_name: `${LATENCY_METRIC}.le_5`, num_requests_finished_with_metric: 1, total_metric_value: 4 });
    expect(z1.load_metric_stats).toContainEqual({ metric_name: `${LATENCY_METRIC}.le_50`, num_requests_finished_with_metric: 1, total_metric_value: 40 });

    // Next interval: only the request still in flight is reported.
    now = 3500;
    const [again] = store.take();
    expect(again!.upstream_locality_stats).toHaveLength(1);
    expect(again!.upstream_locality_stats[0]).toMatchObject({ total_issued_requests: 0, total_requests_in_progress: 1, load_metric_stats: [] });
    expect(again!.load_report_interval).toEqual({ seconds: 1, nanos: 0 });
    a.end(true, 1);
    store.take();
    expect(store.take()).toEqual([]);
  });

  it('writes load_report_interval as a valid Duration, nanos below one second', () => {
    let now = 0;
    const store = new LoadStore(() => now);
    store.locality('c').start();
    now = 1999.9999999;
    expect(store.take()[0]!.load_report_interval).toEqual({ seconds: 2, nanos: 0 });
    now += 1500.25;
    expect(store.take()[0]!.load_report_interval).toEqual({ seconds: 1, nanos: 500_250_000 });
    for (const step of [999.9999996, 59_999.99999999]) {
      now += step;
      const d = store.take()[0]!.load_report_interval;
      expect(d.nanos).toBeLessThan(1e9);
      expect(d.seconds * 1000 + d.nanos / 1e6).toBeCloseTo(step, 3);
    }
  });

  it('reports drops by category and honours the cluster filter', () => {
    const store = new LoadStore(() => 0);
    store.drop('outbound|1||a', 'rate_limit');
    store.drop('outbound|1||a', 'rate_limit');
    store.drop('outbound|1||a');
    store.locality('outbound|1||b').start();
    const stats = store.take((c) => c === 'outbound|1||a');
    expect(stats).toEqual([
      expect.objectContaining({ cluster_name: 'outbound|1||a', total_dropped_requests: 3, dropped_requests: [{ category: 'rate_limit', dropped_count: 2 }] }),
    ]);
    expect(store.take().map((s) => s.cluster_name)).toEqual(['outbound|1||b']);
  });
});

describe('latency encoding', () => {
  it('reads back what a store wrote and estimates percentiles', () => {
    const store = new LoadStore(() => 0);
    const l = store.locality('c');
    // 90 fast (≈3 ms), 10 slow (≈300 ms).
    for (let i = 0; i < 90; i++) l.end(true, 3);
    for (let i = 0; i < 10; i++) l.end(true, 300);
    const [stats] = store.take();
    const lat = readLatency(stats!.upstream_locality_stats[0]!.load_metric_stats)!;
    expect(lat.count).toBe(100);
    expect(lat.sumMs).toBe(3270);
    const p50 = latencyQuantile(lat.buckets!, lat.bucketSums!, 0.5)!;
    const p99 = latencyQuantile(lat.buckets!, lat.bucketSums!, 0.99)!;
    expect(p50).toBeGreaterThan(2.5);
    expect(p50).toBeLessThanOrEqual(5);
    expect(p99).toBeGreaterThan(250);
    expect(p99).toBeLessThanOrEqual(500);
  });

  it('answers the open last bucket with its mean, and nothing for no data', () => {
    const store = new LoadStore(() => 0);
    store.locality('c').end(true, 60_000);
    const [stats] = store.take();
    const lat = readLatency(stats!.upstream_locality_stats[0]!.load_metric_stats)!;
    expect(latencyQuantile(lat.buckets!, lat.bucketSums!, 0.99)).toBe(60_000);
    expect(latencyQuantile(new Float64Array(14), new Float64Array(14), 0.5)).toBeUndefined();
    expect(readLatency([{ metric_name: 'cpu', num_requests_finished_with_metric: 1, total_metric_value: 1 }])).toBeUndefined();
  });
});

describe('policy state in load reports', () => {
  it('reads open breakers and ejected endpoints from a mesh policy state, per destination cluster', () => {
    const model = parseMeshYaml('services:\n  reviews: { protocol: http, port: 9080 }\n  details: { protocol: http, port: 9081 }\n', 'mesh.yaml');
    const state = {
      services: {
        reviews: { breaker: { state: 'open' }, outlierDetection: { ejected: [{ endpoint: '10.0.0.1:9080' }] } },
        details: { breaker: { state: 'closed' }, outlierDetection: { ejected: [] } },
        gone: { breaker: { state: 'open' } },
      },
    };
    expect(policyReportOf(state, model)).toEqual([{ cluster: 'outbound|9080||reviews', breakerOpen: true, ejected: ['10.0.0.1:9080'] }]);
    expect(policyReportOf({}, undefined)).toEqual([]);
  });

  it('writes them as standard load_metric_stats and upstream_endpoint_stats', () => {
    const stats: ClusterStatsMessage[] = [];
    addPolicyStats(stats, [
      { cluster: 'outbound|9080||reviews', breakerOpen: true, ejected: ['[::1]:9080'] },
      { cluster: 'outbound|9081||details', breakerOpen: false, ejected: [] },
    ]);
    expect(stats).toHaveLength(1);
    const l = stats[0]!.upstream_locality_stats[0]!;
    expect(l.total_issued_requests).toBe(0);
    expect(l.load_metric_stats).toEqual([{ metric_name: BREAKER_OPEN_METRIC, num_requests_finished_with_metric: 1, total_metric_value: 1 }]);
    expect(l.upstream_endpoint_stats![0]!.address).toEqual({ socket_address: { address: '::1', port_value: 9080 } });
    expect(l.upstream_endpoint_stats![0]!.load_metric_stats[0]!.metric_name).toBe(EJECTED_METRIC);
  });

  it('leaves endpoint entries out unless the server asked for endpoint granularity', () => {
    const stats: ClusterStatsMessage[] = [];
    addPolicyStats(
      stats,
      [
        { cluster: 'outbound|9080||reviews', breakerOpen: true, ejected: ['10.0.0.1:9080'] },
        { cluster: 'outbound|9081||details', breakerOpen: false, ejected: ['10.0.0.2:9081'] },
      ],
      false,
    );
    expect(stats).toHaveLength(1);
    expect(stats[0]!.cluster_name).toBe('outbound|9080||reviews');
    expect(stats[0]!.upstream_locality_stats[0]!.upstream_endpoint_stats ?? []).toEqual([]);
    expect(stats[0]!.upstream_locality_stats[0]!.load_metric_stats[0]!.metric_name).toBe(BREAKER_OPEN_METRIC);
  });
});
