import { describe, expect, it } from 'vitest';
import { LoadAggregator, REPORTER_LIMITS } from './aggregator.ts';
import type { ReceivedClusterStats, Reporter } from './aggregator.ts';
import { reporterOf } from './lrs-service.ts';
import { LoadStore, addPolicyStats } from '../../telemetry/load-stats.ts';
import type { ClusterPolicyReport, ClusterStatsMessage } from '../../telemetry/load-stats.ts';
import { toStruct } from '../../xds/metadata.ts';

const reviews: Reporter = { id: 'r1', nodeId: 'reviews~1~a', service: 'reviews', client: 'enmesh' };
const productpage: Reporter = { id: 'r2', nodeId: 'productpage~1~grpc', service: 'productpage', client: 'grpc-xds' };

/** A report as grpc-js-xds sends it (uint64 as strings after decoding). */
function report(cluster: string, intervalS: number, issued: number, ok: number, failed: number, inProgress = 0): ReceivedClusterStats {
  return {
    cluster_name: cluster,
    upstream_locality_stats: [
      {
        locality: { zone: 'z' },
        total_issued_requests: String(issued),
        total_successful_requests: String(ok),
        total_error_requests: String(failed),
        total_requests_in_progress: String(inProgress),
      },
    ],
    load_report_interval: { seconds: String(intervalS), nanos: 0 },
  };
}

describe('LoadAggregator', () => {
  it('adds up rates of reporters with different intervals, per service and per edge', () => {
    let now = 0;
    const agg = new LoadAggregator({ windowMs: 60_000, now: () => now });
    agg.connect(reviews);
    agg.connect(productpage);
    for (let t = 1; t <= 3; t++) {
      now = t * 2000;
      agg.ingest(reviews, [report('outbound|50051|v1|ratings', 2, 200, 190, 10)]); // 100/s
    }
    now = 6000;
    agg.ingest(productpage, [report('outbound|50051|v2|ratings', 5, 250, 250, 0, 3)]); // 50/s
    const view = agg.view();
    expect(view.services).toHaveLength(1);
    const ratings = view.services[0]!;
    expect(ratings).toMatchObject({
      service: 'ratings',
      clusters: ['outbound|50051|v1|ratings', 'outbound|50051|v2|ratings'],
      reporters: 2,
      requests: 850,
      requestsPerSecond: 150,
      inProgress: 3,
    });
    expect(ratings.successRate).toBeCloseTo(820 / 850, 3);
    expect(ratings.latency).toEqual({ meanMs: null, p50Ms: null, p99Ms: null });
    expect(view.edges.map((e) => [e.source, e.destination, e.requestsPerSecond])).toEqual([
      ['productpage', 'ratings', 50],
      ['reviews', 'ratings', 100],
    ]);
    expect(view.reporters.map((r) => [r.service, r.lastReportMsAgo])).toEqual([
      ['reviews', 0],
      ['productpage', 0],
    ]);
  });

  it('forgets reports that left the window', () => {
    let now = 0;
    const agg = new LoadAggregator({ windowMs: 10_000, now: () => now });
    agg.ingest(reviews, [report('outbound|9080||details', 1, 10, 10, 0)]);
    now = 5000;
    agg.ingest(reviews, [report('outbound|9080||details', 1, 30, 30, 0)]);
    expect(agg.view().services[0]!.requests).toBe(40);
    now = 12_000;
    expect(agg.view().services[0]!.requests).toBe(30);
    now = 16_000;
    expect(agg.view().services).toEqual([]);
    expect(agg.view().edges).toEqual([]);
  });

  it("reads enmesh's latency buckets into percentiles", () => {
    const store = new LoadStore(() => 0);
    const l = store.locality('outbound|9080||reviews');
    for (let i = 0; i < 98; i++) {
      l.start();
      l.end(true, 8);
    }
    for (let i = 0; i < 2; i++) {
      l.start();
      l.end(false, 900);
    }
    const agg = new LoadAggregator({ now: () => 0 });
    // As the wire delivers it: through JSON (numbers stay numbers; the decoder may turn uint64 into strings).
    agg.ingest(productpage, JSON.parse(JSON.stringify(store.take())) as ReceivedClusterStats[]);
    const svc = agg.view().services[0]!;
    expect(svc.successRate).toBe(0.98);
    expect(svc.latency.meanMs).toBeCloseTo((98 * 8 + 2 * 900) / 100, 3);
    expect(svc.latency.p50Ms).toBeGreaterThan(5);
    expect(svc.latency.p50Ms).toBeLessThanOrEqual(10);
    expect(svc.latency.p99Ms).toBeGreaterThan(500);
    expect(svc.latency.p99Ms).toBeLessThanOrEqual(1000);
  });

  it('names clusters it cannot parse by their own name', () => {
    const agg = new LoadAggregator({ now: () => 0 });
    agg.ingest(reviews, [report('legacy-cluster', 1, 1, 1, 0)]);
    expect(agg.view().services.map((s) => s.service)).toEqual(['legacy-cluster']);
  });
});

describe('reporterOf', () => {
  it("takes the source service from the node's cluster, its registration, or its id", () => {
    expect(reporterOf('1', { id: 'n1', cluster: 'reviews', user_agent_name: 'enmesh' })).toEqual({ id: '1', nodeId: 'n1', service: 'reviews', client: 'enmesh' });
    const registered = { id: 'n2', metadata: toStruct({ 'enmesh.registration': { service: 'details', host: '127.0.0.1', port: 9080 } }) };
    expect(reporterOf('2', registered).service).toBe('details');
    expect(reporterOf('3', { id: 'productpage~42~abcd~grpc', user_agent_name: 'gRPC Node Pure JS' })).toMatchObject({ service: 'productpage', client: 'grpc-xds' });
    expect(reporterOf('4', { id: 'plain' }).service).toBe('plain');
  });
});

describe('LoadAggregator policy state', () => {
  const sdkA: Reporter = { id: 'a', nodeId: 'productpage~1~aaaa', service: 'productpage', client: 'enmesh' };
  const sdkB: Reporter = { id: 'b', nodeId: 'details~2~bbbb', service: 'details', client: 'enmesh' };

  function policyReport(reports: ClusterPolicyReport[]): ReceivedClusterStats[] {
    const stats: ClusterStatsMessage[] = [];
    addPolicyStats(stats, reports);
    return JSON.parse(JSON.stringify(stats)) as ReceivedClusterStats[];
  }

  it("shows each reporter's latest open breakers and ejections, merged per endpoint", () => {
    const agg = new LoadAggregator({ now: () => 0 });
    let changes = 0;
    agg.onPolicyChange(() => changes++);
    agg.connect(sdkA);
    agg.connect(sdkB);
    agg.ingest(sdkA, policyReport([{ cluster: 'outbound|9080||reviews', breakerOpen: true, ejected: ['10.0.0.2:9080'] }]));
    agg.ingest(sdkB, policyReport([{ cluster: 'outbound|9080||reviews', breakerOpen: false, ejected: ['10.0.0.2:9080', '[::1]:9080'] }]));
    expect(agg.policyView(['details', 'reviews'])).toEqual({
      services: [
        { service: 'details', openBreakers: [], ejected: [] },
        {
          service: 'reviews',
          openBreakers: [{ reporter: 'productpage~1~aaaa', cluster: 'outbound|9080||reviews' }],
          ejected: [
            { address: '[::1]:9080', reporters: ['details~2~bbbb'] },
            { address: '10.0.0.2:9080', reporters: ['productpage~1~aaaa', 'details~2~bbbb'] },
          ],
        },
      ],
    });
    expect(changes).toBe(2);
    // The same state again is no change; a report without policy entries clears the reporter's state.
    agg.ingest(sdkA, policyReport([{ cluster: 'outbound|9080||reviews', breakerOpen: true, ejected: ['10.0.0.2:9080'] }]));
    expect(changes).toBe(2);
    agg.ingest(sdkA, []);
    expect(changes).toBe(3);
    expect(agg.policyView().services[0]!.openBreakers).toEqual([]);
    // A reporter that goes away takes its state with it.
    agg.disconnect('b');
    expect(agg.policyView()).toEqual({ services: [] });
    // Policy-only entries are not traffic.
    expect(agg.view().services).toEqual([]);
  });

  it('keeps traffic figures when policy state rides on a cluster with traffic', () => {
    const store = new LoadStore(() => 0);
    const l = store.locality('outbound|9080||reviews');
    l.start();
    l.end(true, 3);
    const stats = store.take();
    addPolicyStats(stats, [{ cluster: 'outbound|9080||reviews', breakerOpen: false, ejected: ['10.0.0.9:9080'] }]);
    expect(stats).toHaveLength(1);
    const agg = new LoadAggregator({ now: () => 0 });
    agg.ingest(sdkA, JSON.parse(JSON.stringify(stats)) as ReceivedClusterStats[]);
    expect(agg.view().services[0]!.requests).toBe(1);
    expect(agg.policyView().services[0]!.ejected).toEqual([{ address: '10.0.0.9:9080', reporters: ['productpage~1~aaaa'] }]);
  });
});

describe('LoadAggregator reporters that go away', () => {
  const sdk = (id: string): Reporter => ({ id, nodeId: 'reviews~7~abcd', service: 'reviews', client: 'enmesh' });

  it('stops counting an ended stream towards rates and in-progress, and hands its reports to the same node reconnecting', () => {
    let now = 0;
    const agg = new LoadAggregator({ windowMs: 60_000, now: () => now });
    agg.connect(sdk('s1'));
    for (let t = 1; t <= 3; t++) {
      now = t * 1000;
      agg.ingest(sdk('s1'), [report('outbound|9080||ratings', 1, 100, 100, 0, 4)]); // 100/s, 4 in flight
    }
    expect(agg.view().services[0]).toMatchObject({ requestsPerSecond: 100, inProgress: 4 });

    agg.disconnect('s1');
    const gone = agg.view();
    // Its requests happened, but it sends none any more.
    expect(gone.services[0]).toMatchObject({ requests: 300, requestsPerSecond: 0, inProgress: 0, successRate: 1 });
    expect(gone.reporters).toEqual([]);

    // The same node on a new stream: one rate, not two.
    agg.connect(sdk('s2'));
    expect(agg.view().services[0]).toMatchObject({ requests: 300, requestsPerSecond: 100, inProgress: 4, reporters: 1 });
    now = 4000;
    agg.ingest(sdk('s2'), [report('outbound|9080||ratings', 1, 100, 100, 0, 2)]);
    expect(agg.view().services[0]).toMatchObject({ requests: 400, requestsPerSecond: 100, inProgress: 2, reporters: 1 });
    expect(agg.view().reporters.map((r) => r.id)).toEqual(['s2']);
  });

  it('forgets an ended stream once its reports left the window', () => {
    let now = 0;
    const agg = new LoadAggregator({ windowMs: 10_000, now: () => now });
    agg.connect(sdk('s1'));
    agg.ingest(sdk('s1'), [report('outbound|9080||ratings', 1, 10, 10, 0)]);
    agg.disconnect('s1');
    now = 20_000;
    expect(agg.view().services).toEqual([]);
    expect(agg.retained).toEqual({ reporters: 0, series: 0, samples: 0 });
  });
});

describe('LoadAggregator against bogus reports', () => {
  const liar: Reporter = { id: 'x', nodeId: 'liar~1', service: 'liar', client: 'envoy' };

  it('ignores entries with bad figures or intervals, and keeps the aggregate of the others', () => {
    let now = 1000;
    const agg = new LoadAggregator({ now: () => now });
    agg.connect(reviews);
    agg.connect(liar);
    agg.ingest(reviews, [report('outbound|9080||ratings', 1, 100, 90, 10)]);
    const latency = (count: number | string, sum: number): ReceivedClusterStats => ({
      ...report('outbound|9080||ratings', 1, 10, 10, 0),
      upstream_locality_stats: [{ total_issued_requests: 10, total_successful_requests: 10, load_metric_stats: [{ metric_name: 'enmesh.latency_ms', num_requests_finished_with_metric: count, total_metric_value: sum }] }],
    });
    const bogus: ReceivedClusterStats[] = [
      report('outbound|9080||ratings', 1, 0, 0, 0, 0),
      { ...report('outbound|9080||ratings', 1, 0, 0, 0), upstream_locality_stats: [{ total_issued_requests: '18446744073709551615', total_successful_requests: '18446744073709551615' }] },
      { ...report('outbound|9080||ratings', 1, 0, 0, 0), upstream_locality_stats: [{ total_issued_requests: -5, total_error_requests: 2.5 }] },
      { ...report('outbound|9080||ratings', 1, 5, 5, 0), load_report_interval: { seconds: '-3', nanos: 0 } },
      { ...report('outbound|9080||ratings', 1, 5, 5, 0), load_report_interval: { seconds: 1, nanos: 2e9 } },
      { ...report('outbound|9080||ratings', 1, 5, 5, 0), total_dropped_requests: 'NaN' },
      latency(1, Number.NaN),
      latency(1, Number.POSITIVE_INFINITY),
      latency(1, -4),
      { upstream_locality_stats: [] },
    ];
    const bad = agg.ingest(liar, bogus);
    // Traffic over an interval of 0 counts, but covers no time: no rate from it.
    const zero = agg.ingest(liar, [{ ...report('outbound|9080||ratings', 0, 1000, 0, 1000) }]);
    const view = agg.view();
    const ratings = view.services[0]!;
    expect(ratings.requests).toBe(1100);
    expect(ratings.requestsPerSecond).toBe(100);
    expect(ratings.successRate).toBeCloseTo(90 / 1100, 3);
    expect(ratings.latency).toEqual({ meanMs: null, p50Ms: null, p99Ms: null });
    expect(JSON.stringify(view)).not.toMatch(/NaN|Infinity|e\+/);
    // The first is a sane, empty entry; all the others go.
    expect(bad).toMatchObject({ rejected: bogus.length - 1 });
    expect(zero).toEqual({ rejected: 0 });
  });

  it('bounds what one reporter can make it keep, whatever cluster names it sends', () => {
    let now = 0;
    const agg = new LoadAggregator({ windowMs: 60_000, now: () => now });
    agg.connect(liar);
    const many = Array.from({ length: 5000 }, (_, i) => report(`outbound|80||svc-${i}`, 1, 1, 1, 0));
    const first = agg.ingest(liar, many);
    expect(agg.view().services).toHaveLength(256);
    expect(first.rejected).toBe(5000 - REPORTER_LIMITS.destinations);
    expect(first.reason).toMatch(/destination services/);
    // Subsets of one service, and names of any length.
    const subsets = Array.from({ length: 500 }, (_, i) => report(`outbound|80|v${i}|svc-0`, 1, 1, 1, 0));
    expect(agg.ingest(liar, subsets).rejected).toBe(500 - (REPORTER_LIMITS.clustersPerDestination - 1));
    expect(agg.ingest(liar, [report(`outbound|80||svc-0${'x'.repeat(10_000)}`, 1, 1, 1, 0)]).rejected).toBe(1);
    // Reports faster than any interval: the oldest samples go.
    for (let i = 0; i < 200; i++) {
      now += 1;
      agg.ingest(liar, many.slice(0, 100));
    }
    expect(agg.retained.samples).toBe(REPORTER_LIMITS.samples);
    const svc0 = agg.view().services.find((s) => s.service === 'svc-0')!;
    expect(svc0.clusters.length).toBeLessThanOrEqual(REPORTER_LIMITS.clustersPerDestination);
    // Policy state too: one breaker per cluster, within the same limits.
    const stats: ClusterStatsMessage[] = [];
    addPolicyStats(stats, Array.from({ length: 3000 }, (_, i) => ({ cluster: `outbound|80|v${i}|svc-${i % 300}`, breakerOpen: true, ejected: [] })));
    agg.ingest(liar, JSON.parse(JSON.stringify(stats)) as ReceivedClusterStats[]);
    const policy = agg.policyView();
    expect(policy.services.length).toBeLessThanOrEqual(REPORTER_LIMITS.destinations);
  });

  it('sweeps reports that left the window even when nobody reads the view', () => {
    let now = 0;
    const agg = new LoadAggregator({ windowMs: 10_000, now: () => now });
    agg.connect(reviews);
    for (let i = 0; i < 1000; i++) {
      now += 1000;
      agg.ingest(reviews, [report('outbound|9080||ratings', 1, 1, 1, 0)]);
    }
    expect(agg.retained.samples).toBeLessThanOrEqual(12);
  });
});

describe('LoadAggregator rates', () => {
  it('takes the longest interval of a report as the time it covers', () => {
    let now = 0;
    const agg = new LoadAggregator({ now: () => now });
    now = 10_000;
    // v2 was first used 2 s before the report: its own interval is shorter.
    agg.ingest(reviews, [report('outbound|9080|v2|ratings', 2, 20, 20, 0), report('outbound|9080|v1|ratings', 10, 100, 100, 0)]);
    expect(agg.view().services[0]!.requestsPerSecond).toBe(12);
  });
});
