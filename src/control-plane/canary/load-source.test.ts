import { expect, it } from 'vitest';
import { LoadAggregator } from '../lrs/aggregator.ts';
import type { ReceivedClusterStats, Reporter } from '../lrs/aggregator.ts';
import { canaryTraffic } from './load-source.ts';

const productpage: Reporter = { id: 'p1', nodeId: 'productpage~1', service: 'productpage', client: 'enmesh' };

function report(cluster: string, issued: number, ok: number, failed: number): ReceivedClusterStats {
  return {
    cluster_name: cluster,
    upstream_locality_stats: [{ total_issued_requests: String(issued), total_successful_requests: String(ok), total_error_requests: String(failed) }],
    load_report_interval: { seconds: 1, nanos: 0 },
  };
}

it('tells a canary subset from its baseline, counting only reports since the step began', () => {
  let mono = 10_000;
  const wallOffset = 1_700_000_000_000;
  const agg = new LoadAggregator({ now: () => mono });
  agg.connect(productpage);
  agg.ingest(productpage, [report('outbound|9080|v1|reviews', 100, 100, 0), report('outbound|9080|v2|reviews', 10, 0, 10)]);
  mono = 11_000;
  const stepStart = wallOffset + mono;
  mono = 12_000;
  // One report covering both subsets of the same service, as the SDK sends it.
  agg.ingest(productpage, [report('outbound|9080|v1|reviews', 90, 90, 0), report('outbound|9080|v2|reviews', 40, 38, 2)]);
  const traffic = canaryTraffic(agg, () => wallOffset + mono, () => mono);
  expect(traffic('outbound|9080|v2|reviews', stepStart)).toEqual({ requests: 40, errorRate: 0.05, p99Ms: null });
  expect(traffic('outbound|9080|v1|reviews', stepStart)).toEqual({ requests: 90, errorRate: 0, p99Ms: null });
  // Before the step: the earlier report counts too.
  expect(traffic('outbound|9080|v2|reviews', stepStart - 5000)?.requests).toBe(50);
  expect(traffic('outbound|9080|v3|reviews', stepStart)).toBeUndefined();
  // The service view is unchanged: both subsets together.
  expect(agg.view().services[0]).toMatchObject({ service: 'reviews', requests: 240 });
});

it('counts a report once in the service rate, whatever the number of subsets it covers', () => {
  let mono = 1000;
  const agg = new LoadAggregator({ now: () => mono });
  agg.connect(productpage);
  const withInProgress = (cluster: string, issued: number, inProgress: number): ReceivedClusterStats => ({
    ...report(cluster, issued, issued, 0),
    upstream_locality_stats: [{ total_issued_requests: String(issued), total_successful_requests: String(issued), total_requests_in_progress: String(inProgress) }],
  });
  for (let i = 0; i < 5; i++) {
    mono += 1000;
    agg.ingest(productpage, [withInProgress('outbound|9080|v1|reviews', 100, 3), withInProgress('outbound|9080|v2|reviews', 10, 1)]);
  }
  const reviews = agg.view().services[0]!;
  expect(reviews.requestsPerSecond).toBe(110);
  expect(reviews.inProgress).toBe(4);
  expect(agg.clusterTraffic('outbound|9080|v2|reviews', 0)?.requestsPerSecond).toBe(10);
});
