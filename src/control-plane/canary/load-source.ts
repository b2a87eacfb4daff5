/**
 * The canary's view of the load reports: per cluster (one subset or backend
 * service), the requests, error rate and p99 latency reported since a step
 * began. The aggregator keeps a monotonic clock; the controller an epoch one.
 */
import type { LoadAggregator } from '../lrs/aggregator.ts';
import type { StepFigures } from './judge.ts';

export function canaryTraffic(
  aggregator: Pick<LoadAggregator, 'clusterTraffic'>,
  wallNow: () => number = Date.now,
  monotonicNow: () => number = () => performance.now(),
): (cluster: string, sinceMs: number) => StepFigures | undefined {
  return (cluster, sinceMs) => {
    const mono = monotonicNow();
    const view = aggregator.clusterTraffic(cluster, sinceMs - wallNow() + mono, mono);
    if (view === undefined) return undefined;
    return {
      requests: view.requests,
      errorRate: view.successRate === null ? null : Math.round((1 - view.successRate) * 1e6) / 1e6,
      p99Ms: view.latency.p99Ms,
    };
  };
}
