/**
 * Load reports → a live view of the mesh: per destination service its
 * request rate, success share, requests in flight and latency percentiles,
 * and who calls whom (edges from the reporting client's service to the
 * service of the cluster it reports on).
 *
 * Reports are kept for a sliding window. A rate is each reporter's requests
 * over the time its reports cover (their `load_report_interval`s), summed over
 * reporters: clients reporting at different intervals add up correctly, and a
 * client that stopped reporting drops out when its reports leave the window.
 *
 * Percentiles need enmesh's latency buckets (see telemetry/load-stats.ts);
 * grpc-js-xds and Envoy report none, so their edges show rates and success only.
 */
import { parseClusterName } from '../../xds/resource-names.ts';
import { LATENCY_BOUNDS_MS, latencyQuantile, readLatency } from '../../telemetry/load-stats.ts';

/** Who sent a report. */
export interface Reporter {
  /** Stream-unique id. */
  readonly id: string;
  readonly nodeId: string;
  /** The reporting client's own service: the source of its calls. */
  readonly service: string;
  /** `enmesh`, `grpc-xds` or `envoy`. */
  readonly client: string;
}

/** A ClusterStats as proto-loader decodes it (uint64 as strings, absent fields undefined). */
export interface ReceivedClusterStats {
  cluster_name?: string;
  cluster_service_name?: string;
  upstream_locality_stats?: {
    locality?: { region?: string; zone?: string; sub_zone?: string } | null;
    total_successful_requests?: string | number;
    total_requests_in_progress?: string | number;
    total_error_requests?: string | number;
    total_issued_requests?: string | number;
    load_metric_stats?: { metric_name?: string; num_requests_finished_with_metric?: string | number; total_metric_value?: number }[];
  }[];
  total_dropped_requests?: string | number;
  load_report_interval?: { seconds?: string | number; nanos?: number } | null;
}

interface Sample {
  readonly at: number;
  readonly intervalMs: number;
  readonly issued: number;
  readonly succeeded: number;
  readonly errored: number;
  readonly dropped: number;
  readonly inProgress: number;
  readonly latencyCount: number;
  readonly latencySum: number;
  readonly buckets: Float64Array | undefined;
  readonly bucketSums: Float64Array | undefined;
}

/** The reports of one reporter about one destination service. */
interface Series {
  readonly reporter: Reporter;
  readonly destination: string;
  readonly clusters: Set<string>;
  samples: Sample[];
}

export interface LatencyView {
  readonly meanMs: number | null;
  /** Null when no reporter sent latency buckets. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface TrafficView {
  /** Requests issued in the window. */
  readonly requests: number;
  readonly requestsPerSecond: number;
  /** Share of finished requests that succeeded, 0..1; null when none finished. */
  readonly successRate: number | null;
  readonly inProgress: number;
  readonly droppedPerSecond: number;
  readonly latency: LatencyView;
}

export interface ServiceLoadView extends TrafficView {
  readonly service: string;
  readonly clusters: readonly string[];
  readonly reporters: number;
}

export interface EdgeView extends TrafficView {
  readonly source: string;
  readonly destination: string;
}

export interface LoadView {
  readonly windowMs: number;
  readonly services: readonly ServiceLoadView[];
  readonly edges: readonly EdgeView[];
  readonly reporters: readonly (Reporter & { readonly lastReportMsAgo: number | null })[];
}

export interface LoadAggregatorOptions {
  /** How far back reports count. Default 60 s. */
  readonly windowMs?: number;
  /** Milliseconds, monotonic. */
  readonly now?: () => number;
}

const num = (v: string | number | undefined): number => (v === undefined ? 0 : Number(v));

export class LoadAggregator {
  readonly windowMs: number;
  readonly #now: () => number;
  /** By `reporter id \0 destination service`. */
  readonly #series = new Map<string, Series>();
  readonly #reporters = new Map<string, { reporter: Reporter; last: number | undefined }>();

  constructor(options: LoadAggregatorOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** A reporter opened its stream. */
  connect(reporter: Reporter): void {
    this.#reporters.set(reporter.id, { reporter, last: undefined });
  }

  /** A reporter's stream ended: its reports still count until they leave the window. */
  disconnect(id: string): void {
    this.#reporters.delete(id);
  }

  ingest(reporter: Reporter, stats: readonly ReceivedClusterStats[], now = this.#now()): void {
    const known = this.#reporters.get(reporter.id);
    if (known !== undefined) known.last = now;
    for (const cs of stats) {
      const cluster = cs.cluster_name ?? '';
      if (cluster === '') continue;
      const destination = destinationOf(cluster, cs.cluster_service_name);
      const key = `${reporter.id}\u0000${destination}`;
      let series = this.#series.get(key);
      if (series === undefined) this.#series.set(key, (series = { reporter, destination, clusters: new Set(), samples: [] }));
      series.clusters.add(cluster);
      const d = cs.load_report_interval;
      let issued = 0;
      let succeeded = 0;
      let errored = 0;
      let inProgress = 0;
      let latencyCount = 0;
      let latencySum = 0;
      let buckets: Float64Array | undefined;
      let bucketSums: Float64Array | undefined;
      for (const l of cs.upstream_locality_stats ?? []) {
        issued += num(l.total_issued_requests);
        succeeded += num(l.total_successful_requests);
        errored += num(l.total_error_requests);
        inProgress += num(l.total_requests_in_progress);
        const lat = readLatency(l.load_metric_stats);
        if (lat === undefined) continue;
        latencyCount += lat.count;
        latencySum += lat.sumMs;
        if (lat.buckets !== undefined && lat.bucketSums !== undefined) {
          buckets ??= new Float64Array(lat.buckets.length);
          bucketSums ??= new Float64Array(lat.buckets.length);
          for (let i = 0; i < lat.buckets.length; i++) {
            buckets[i]! += lat.buckets[i]!;
            bucketSums[i]! += lat.bucketSums[i]!;
          }
        }
      }
      series.samples.push({
        at: now,
        intervalMs: d == null ? 0 : num(d.seconds) * 1000 + num(d.nanos) / 1e6,
        issued,
        succeeded,
        errored,
        dropped: num(cs.total_dropped_requests),
        inProgress,
        latencyCount,
        latencySum,
        buckets,
        bucketSums,
      });
    }
  }

  view(now = this.#now()): LoadView {
    this.#prune(now);
    const byService = new Map<string, Series[]>();
    const byEdge = new Map<string, Series[]>();
    for (const s of this.#series.values()) {
      push(byService, s.destination, s);
      push(byEdge, `${s.reporter.service}\u0000${s.destination}`, s);
    }
    const services: ServiceLoadView[] = [...byService].map(([service, series]) => ({
      service,
      clusters: [...new Set(series.flatMap((s) => [...s.clusters]))].sort(),
      reporters: new Set(series.map((s) => s.reporter.id)).size,
      ...traffic(series),
    }));
    const edges: EdgeView[] = [...byEdge.values()].map((series) => ({
      source: series[0]!.reporter.service,
      destination: series[0]!.destination,
      ...traffic(series),
    }));
    services.sort((a, b) => a.service.localeCompare(b.service));
    edges.sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));
    const reporters = [...this.#reporters.values()].map(({ reporter, last }) => ({
      ...reporter,
      lastReportMsAgo: last === undefined ? null : Math.round(now - last),
    }));
    return { windowMs: this.windowMs, services, edges, reporters };
  }

  #prune(now: number): void {
    const oldest = now - this.windowMs;
    for (const [key, s] of this.#series) {
      if (s.samples.length > 0 && s.samples[0]!.at < oldest) s.samples = s.samples.filter((x) => x.at >= oldest);
      if (s.samples.length === 0) this.#series.delete(key);
    }
  }
}

/** The mesh service a cluster belongs to (`outbound|port|subset|service`), else the EDS service or cluster name. */
function destinationOf(cluster: string, edsName: string | undefined): string {
  return parseClusterName(cluster)?.service ?? (edsName !== undefined && edsName !== '' ? (parseClusterName(edsName)?.service ?? edsName) : cluster);
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list === undefined) m.set(k, [v]);
  else list.push(v);
}

function traffic(series: readonly Series[]): TrafficView {
  let requests = 0;
  let rate = 0;
  let droppedRate = 0;
  let succeeded = 0;
  let errored = 0;
  let inProgress = 0;
  let latencyCount = 0;
  let latencySum = 0;
  const buckets = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  const bucketSums = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  let haveBuckets = false;
  for (const s of series) {
    let issued = 0;
    let dropped = 0;
    let covered = 0;
    for (const x of s.samples) {
      issued += x.issued;
      dropped += x.dropped;
      covered += x.intervalMs;
      succeeded += x.succeeded;
      errored += x.errored;
      latencyCount += x.latencyCount;
      latencySum += x.latencySum;
      if (x.buckets !== undefined && x.bucketSums !== undefined) {
        haveBuckets = true;
        for (let i = 0; i < buckets.length; i++) {
          buckets[i]! += x.buckets[i] ?? 0;
          bucketSums[i]! += x.bucketSums[i] ?? 0;
        }
      }
    }
    requests += issued;
    if (covered > 0) {
      rate += (issued * 1000) / covered;
      droppedRate += (dropped * 1000) / covered;
    }
    inProgress += s.samples.at(-1)?.inProgress ?? 0;
  }
  const round = (v: number | undefined): number | null => (v === undefined ? null : Math.round(v * 1000) / 1000);
  const finished = succeeded + errored;
  return {
    requests,
    requestsPerSecond: round(rate)!,
    successRate: finished === 0 ? null : round(succeeded / finished),
    inProgress,
    droppedPerSecond: round(droppedRate)!,
    latency: {
      meanMs: latencyCount === 0 ? null : round(latencySum / latencyCount),
      p50Ms: haveBuckets ? round(latencyQuantile(buckets, bucketSums, 0.5)) : null,
      p99Ms: haveBuckets ? round(latencyQuantile(buckets, bucketSums, 0.99)) : null,
    },
  };
}
