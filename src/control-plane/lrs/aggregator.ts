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
import { BREAKER_OPEN_METRIC, EJECTED_METRIC, LATENCY_BOUNDS_MS, latencyQuantile, readLatency } from '../../telemetry/load-stats.ts';

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
    upstream_endpoint_stats?: {
      address?: { socket_address?: { address?: string; port_value?: number } | null } | null;
      load_metric_stats?: { metric_name?: string; total_metric_value?: number }[];
    }[];
  }[];
  total_dropped_requests?: string | number;
  load_report_interval?: { seconds?: string | number; nanos?: number } | null;
}

interface Sample {
  readonly at: number;
  /** The cluster reported on: a subset's own figures (canary vs baseline) come from its cluster. */
  readonly cluster: string;
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

/** Open breakers and ejected endpoints per destination service, as the clients last reported them. */
export interface PolicyStateView {
  readonly services: readonly {
    readonly service: string;
    /** `reporter`: the reporting client's node id. */
    readonly openBreakers: readonly { readonly reporter: string; readonly cluster: string }[];
    /** Endpoints (`host:port`) some client has ejected, with the node ids of those clients. */
    readonly ejected: readonly { readonly address: string; readonly reporters: readonly string[] }[];
  }[];
}

/** What one reporter said in its last report: per destination service, open-breaker clusters and ejected addresses. */
type ReporterPolicy = Map<string, { breakers: Set<string>; ejected: Set<string> }>;

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
  /** By reporter id: the policy state of its latest report (replaced by each report). */
  readonly #policies = new Map<string, { reporter: Reporter; state: ReporterPolicy }>();
  readonly #policyListeners = new Set<() => void>();

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
    // A gone client's breakers and ejections no longer affect anyone.
    if (this.#policies.delete(id)) this.#policyChanged();
  }

  /** Called when the reported policy state changes (for the event stream). */
  onPolicyChange(listener: () => void): () => void {
    this.#policyListeners.add(listener);
    return () => this.#policyListeners.delete(listener);
  }

  /** The reported policy state; `services` lists those to include even when nothing is reported about them. */
  policyView(services: Iterable<string> = []): PolicyStateView {
    const by = new Map<string, { openBreakers: { reporter: string; cluster: string }[]; ejected: Map<string, string[]> }>();
    const entry = (service: string): { openBreakers: { reporter: string; cluster: string }[]; ejected: Map<string, string[]> } => {
      let e = by.get(service);
      if (e === undefined) by.set(service, (e = { openBreakers: [], ejected: new Map() }));
      return e;
    };
    for (const s of services) entry(s);
    for (const { reporter, state } of this.#policies.values()) {
      for (const [service, p] of state) {
        const e = entry(service);
        for (const cluster of p.breakers) e.openBreakers.push({ reporter: reporter.nodeId, cluster });
        for (const address of p.ejected) {
          const list = e.ejected.get(address);
          if (list === undefined) e.ejected.set(address, [reporter.nodeId]);
          else list.push(reporter.nodeId);
        }
      }
    }
    return {
      services: [...by]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([service, e]) => ({
          service,
          openBreakers: e.openBreakers,
          ejected: [...e.ejected].sort(([a], [b]) => a.localeCompare(b)).map(([address, reporters]) => ({ address, reporters })),
        })),
    };
  }

  #ingestPolicy(reporter: Reporter, stats: readonly ReceivedClusterStats[]): void {
    const state: ReporterPolicy = new Map();
    for (const cs of stats) {
      const cluster = cs.cluster_name ?? '';
      if (cluster === '') continue;
      for (const l of cs.upstream_locality_stats ?? []) {
        const breaker = l.load_metric_stats?.some((m) => m.metric_name === BREAKER_OPEN_METRIC && Number(m.total_metric_value ?? 0) > 0) === true;
        const ejected: string[] = [];
        for (const e of l.upstream_endpoint_stats ?? []) {
          if (e.load_metric_stats?.some((m) => m.metric_name === EJECTED_METRIC && Number(m.total_metric_value ?? 0) > 0) !== true) continue;
          const sa = e.address?.socket_address;
          if (sa?.address === undefined) continue;
          ejected.push(`${sa.address.includes(':') ? `[${sa.address}]` : sa.address}:${sa.port_value ?? 0}`);
        }
        if (!breaker && ejected.length === 0) continue;
        const service = destinationOf(cluster, cs.cluster_service_name);
        let p = state.get(service);
        if (p === undefined) state.set(service, (p = { breakers: new Set(), ejected: new Set() }));
        if (breaker) p.breakers.add(cluster);
        for (const a of ejected) p.ejected.add(a);
      }
    }
    const before = this.#policies.get(reporter.id);
    if (state.size === 0) {
      if (before !== undefined) {
        this.#policies.delete(reporter.id);
        this.#policyChanged();
      }
      return;
    }
    this.#policies.set(reporter.id, { reporter, state });
    if (before === undefined || policyKey(before.state) !== policyKey(state)) this.#policyChanged();
  }

  #policyChanged(): void {
    for (const l of this.#policyListeners) l();
  }

  ingest(reporter: Reporter, stats: readonly ReceivedClusterStats[], now = this.#now()): void {
    const known = this.#reporters.get(reporter.id);
    if (known !== undefined) known.last = now;
    // Every report carries the reporter's whole policy state: no entry means nothing open or ejected.
    this.#ingestPolicy(reporter, stats);
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
      // An entry that only carries policy state (no traffic, no interval) is not a traffic sample.
      if (issued === 0 && succeeded === 0 && errored === 0 && inProgress === 0 && num(cs.total_dropped_requests) === 0 && (d == null || (num(d.seconds) === 0 && num(d.nanos) === 0))) {
        if (series.samples.length === 0 && series.clusters.size === 1) this.#series.delete(key);
        continue;
      }
      series.samples.push({
        at: now,
        cluster,
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

  /**
   * Traffic to one cluster (e.g. one subset of a service) in the reports
   * received since `since` (this aggregator's clock); undefined when none.
   */
  clusterTraffic(cluster: string, since: number, now = this.#now()): TrafficView | undefined {
    this.#prune(now);
    const picked: Series[] = [];
    for (const s of this.#series.values()) {
      if (!s.clusters.has(cluster)) continue;
      const samples = s.samples.filter((x) => x.cluster === cluster && x.at >= since);
      if (samples.length > 0) picked.push({ ...s, samples });
    }
    return picked.length === 0 ? undefined : traffic(picked);
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
    let lastAt = Number.NaN;
    let lastInProgress = 0;
    for (const x of s.samples) {
      issued += x.issued;
      dropped += x.dropped;
      // One report holds a sample per cluster of the service (one per subset): its interval
      // counts once, and its in-progress figures add up.
      if (x.at !== lastAt) {
        covered += x.intervalMs;
        lastInProgress = 0;
        lastAt = x.at;
      }
      lastInProgress += x.inProgress;
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
    inProgress += lastInProgress;
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

function policyKey(state: ReporterPolicy): string {
  return JSON.stringify([...state].map(([service, p]) => [service, [...p.breakers].sort(), [...p.ejected].sort()]).sort());
}
