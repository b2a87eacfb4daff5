/**
 * Load counters per (cluster, locality), as LRS reports them: requests
 * issued, succeeded, errored, in progress, plus latency. A request costs a
 * few additions on a {@link LocalityLoad} the caller keeps; a report takes
 * the counters and starts a new interval.
 *
 * Latency travels in standard `load_metric_stats` entries (the LRS protos have
 * no latency field), under names enmesh's control plane understands:
 *   `enmesh.latency_ms`            — all requests: count and sum of latency;
 *   `enmesh.latency_ms.le_<bound>` — requests in the bucket ending at `bound`
 *                                    (`le_inf` for the last), not cumulative.
 * Other consumers see ordinary named metrics and can ignore them.
 */

/** Upper bounds (ms) of the latency buckets reported. */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

export const LATENCY_METRIC = 'enmesh.latency_ms';
const BUCKET_PREFIX = `${LATENCY_METRIC}.le_`;
const BUCKET_NAMES: readonly string[] = Object.freeze([...LATENCY_BOUNDS_MS.map((b) => `${BUCKET_PREFIX}${b}`), `${BUCKET_PREFIX}inf`]);

export interface Locality {
  readonly region?: string;
  readonly zone?: string;
  readonly subZone?: string;
}

/** Counters of one locality of one cluster. Mutated in place per request. */
export class LocalityLoad {
  readonly locality: Readonly<{ region: string; zone: string; sub_zone: string }>;
  issued = 0;
  succeeded = 0;
  errored = 0;
  inProgress = 0;
  latencyCount = 0;
  latencySum = 0;
  /** Requests per latency bucket (index = bucket of {@link LATENCY_BOUNDS_MS}, last = beyond). */
  readonly buckets = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  readonly bucketSums = new Float64Array(LATENCY_BOUNDS_MS.length + 1);

  constructor(locality: Locality) {
    this.locality = Object.freeze({ region: locality.region ?? '', zone: locality.zone ?? '', sub_zone: locality.subZone ?? '' });
  }

  /** A request was sent to this locality. */
  start(): void {
    this.issued++;
    this.inProgress++;
  }

  /**
   * A request finished; `ok` as LRS counts it: an error is a failure at the
   * endpoint (HTTP 5xx or no response; for gRPC only DEADLINE_EXCEEDED,
   * UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNKNOWN and DATA_LOSS), anything else succeeded.
   */
  end(ok: boolean, latencyMs: number): void {
    if (this.inProgress > 0) this.inProgress--;
    if (ok) this.succeeded++;
    else this.errored++;
    this.latencyCount++;
    this.latencySum += latencyMs;
    let i = 0;
    const n = LATENCY_BOUNDS_MS.length;
    while (i < n && latencyMs > LATENCY_BOUNDS_MS[i]!) i++;
    this.buckets[i]!++;
    this.bucketSums[i]! += latencyMs;
  }

  /** A request ended without an outcome of the endpoint's (cancelled by the caller): neither success nor error. */
  cancel(): void {
    if (this.inProgress > 0) this.inProgress--;
  }

  /** True when there is something to report. */
  get active(): boolean {
    return this.issued > 0 || this.succeeded > 0 || this.errored > 0 || this.inProgress > 0;
  }
}

/** `envoy.config.endpoint.v3.ClusterStats` as grpc-js writes it (snake_case). */
export interface ClusterStatsMessage {
  cluster_name: string;
  cluster_service_name?: string;
  upstream_locality_stats: UpstreamLocalityStatsMessage[];
  total_dropped_requests: number;
  dropped_requests: { category: string; dropped_count: number }[];
  load_report_interval: { seconds: number; nanos: number };
}

export interface UpstreamLocalityStatsMessage {
  locality: { region: string; zone: string; sub_zone: string };
  total_successful_requests: number;
  total_requests_in_progress: number;
  total_error_requests: number;
  total_issued_requests: number;
  load_metric_stats: { metric_name: string; num_requests_finished_with_metric: number; total_metric_value: number }[];
  /** Per endpoint: enmesh sends it, when the server asks for endpoint granularity, for ejected endpoints (`enmesh.ejected`). */
  upstream_endpoint_stats?: UpstreamEndpointStatsMessage[];
}

export interface UpstreamEndpointStatsMessage {
  address: { socket_address: { address: string; port_value: number } };
  total_successful_requests: number;
  total_requests_in_progress: number;
  total_error_requests: number;
  total_issued_requests: number;
  load_metric_stats: { metric_name: string; num_requests_finished_with_metric: number; total_metric_value: number }[];
}

/**
 * Resilience state of one cluster as the reporting client sees it, carried in
 * standard `load_metric_stats` entries: `enmesh.breaker_open` (value 1) on the
 * cluster while its breaker is open, `enmesh.ejected` (value 1) on each endpoint
 * outlier detection has ejected. Sent with every report while it holds, so
 * the control plane can show the current state, not a sum.
 */
export interface ClusterPolicyReport {
  readonly cluster: string;
  readonly breakerOpen: boolean;
  /** `host:port` of ejected endpoints (IPv6 in brackets). */
  readonly ejected: readonly string[];
}

export const BREAKER_OPEN_METRIC = 'enmesh.breaker_open';
export const EJECTED_METRIC = 'enmesh.ejected';

/**
 * Adds the policy state to a report: into the cluster's entry when it has traffic, else as its own entry.
 * Ejected endpoints go in `upstream_endpoint_stats`, which LRS lets a client send only when the
 * server asked for endpoint granularity: without `endpoints`, they are left out.
 */
export function addPolicyStats(stats: ClusterStatsMessage[], reports: readonly ClusterPolicyReport[], endpoints = true): void {
  for (const r of reports) {
    const ejected = endpoints ? r.ejected : [];
    if (!r.breakerOpen && ejected.length === 0) continue;
    const locality: UpstreamLocalityStatsMessage = {
      locality: { region: '', zone: '', sub_zone: '' },
      total_successful_requests: 0,
      total_requests_in_progress: 0,
      total_error_requests: 0,
      total_issued_requests: 0,
      load_metric_stats: r.breakerOpen ? [{ metric_name: BREAKER_OPEN_METRIC, num_requests_finished_with_metric: 1, total_metric_value: 1 }] : [],
      upstream_endpoint_stats: ejected.map((address) => {
        const colon = address.lastIndexOf(':');
        return {
          address: { socket_address: { address: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port_value: Number(address.slice(colon + 1)) } },
          total_successful_requests: 0,
          total_requests_in_progress: 0,
          total_error_requests: 0,
          total_issued_requests: 0,
          load_metric_stats: [{ metric_name: EJECTED_METRIC, num_requests_finished_with_metric: 1, total_metric_value: 1 }],
        };
      }),
    };
    const existing = stats.find((s) => s.cluster_name === r.cluster);
    if (existing !== undefined) {
      existing.upstream_locality_stats.push(locality);
    } else {
      stats.push({
        cluster_name: r.cluster,
        upstream_locality_stats: [locality],
        total_dropped_requests: 0,
        dropped_requests: [],
        load_report_interval: { seconds: 0, nanos: 0 },
      });
    }
  }
}

interface ClusterLoad {
  readonly name: string;
  readonly serviceName: string;
  readonly localities: Map<string, LocalityLoad>;
  readonly dropped: Map<string, number>;
  since: number;
}

export class LoadStore {
  readonly #clusters = new Map<string, ClusterLoad>();
  readonly #now: () => number;

  /** `now` in ms (monotonic), for the report intervals. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /**
   * The counters of one locality of a cluster. Keep the result (per endpoint
   * or balancer): looking it up builds a key.
   * @param serviceName EDS service name, when it differs from the cluster name.
   */
  locality(cluster: string, locality: Locality = {}, serviceName = ''): LocalityLoad {
    const c = this.#cluster(cluster, serviceName);
    const key = `${locality.region ?? ''}/${locality.zone ?? ''}/${locality.subZone ?? ''}`;
    let load = c.localities.get(key);
    if (load === undefined) c.localities.set(key, (load = new LocalityLoad(locality)));
    return load;
  }

  /**
   * A request dropped on purpose before picking a locality. LRS counts as drops only those of a
   * `drop_overload` category and circuit-breaker overflow (no category); a rate limit is not one.
   */
  drop(cluster: string, category = ''): void {
    const d = this.#cluster(cluster, '').dropped;
    d.set(category, (d.get(category) ?? 0) + 1);
  }

  /**
   * Takes the counters of the clusters `wanted` accepts (all by default) and
   * starts their next interval. In-progress counts carry over. Clusters with
   * nothing to say are left out, as grpc-js-xds does.
   */
  take(wanted: (cluster: string) => boolean = () => true): ClusterStatsMessage[] {
    const now = this.#now();
    const out: ClusterStatsMessage[] = [];
    for (const c of this.#clusters.values()) {
      if (!wanted(c.name)) continue;
      const localities: UpstreamLocalityStatsMessage[] = [];
      for (const l of c.localities.values()) {
        if (!l.active) continue;
        localities.push(localityMessage(l));
        resetLocality(l);
      }
      let totalDropped = 0;
      const dropped: { category: string; dropped_count: number }[] = [];
      for (const [category, count] of c.dropped) {
        totalDropped += count;
        if (category !== '') dropped.push({ category, dropped_count: count });
      }
      c.dropped.clear();
      const ms = Math.max(0, now - c.since);
      c.since = now;
      if (localities.length === 0 && totalDropped === 0) continue;
      const message: ClusterStatsMessage = {
        cluster_name: c.name,
        upstream_locality_stats: localities,
        total_dropped_requests: totalDropped,
        dropped_requests: dropped,
        load_report_interval: durationOf(ms),
      };
      if (c.serviceName !== '') message.cluster_service_name = c.serviceName;
      out.push(message);
    }
    return out;
  }

  #cluster(name: string, serviceName: string): ClusterLoad {
    let c = this.#clusters.get(name);
    if (c === undefined) {
      c = { name, serviceName, localities: new Map(), dropped: new Map(), since: this.#now() };
      this.#clusters.set(name, c);
    }
    return c;
  }
}

/** Milliseconds as a `google.protobuf.Duration` (nanos always below 1e9, as the type requires). */
export function durationOf(ms: number): { seconds: number; nanos: number } {
  const total = Math.round(Math.max(0, ms) * 1e6);
  return { seconds: Math.floor(total / 1e9), nanos: total % 1e9 };
}

function localityMessage(l: LocalityLoad): UpstreamLocalityStatsMessage {
  const metrics: UpstreamLocalityStatsMessage['load_metric_stats'] = [];
  if (l.latencyCount > 0) {
    metrics.push({ metric_name: LATENCY_METRIC, num_requests_finished_with_metric: l.latencyCount, total_metric_value: l.latencySum });
    for (let i = 0; i < l.buckets.length; i++) {
      const n = l.buckets[i]!;
      if (n > 0) metrics.push({ metric_name: BUCKET_NAMES[i]!, num_requests_finished_with_metric: n, total_metric_value: l.bucketSums[i]! });
    }
  }
  return {
    locality: { ...l.locality },
    total_successful_requests: l.succeeded,
    total_requests_in_progress: l.inProgress,
    total_error_requests: l.errored,
    total_issued_requests: l.issued,
    load_metric_stats: metrics,
  };
}

function resetLocality(l: LocalityLoad): void {
  l.issued = 0;
  l.succeeded = 0;
  l.errored = 0;
  l.latencyCount = 0;
  l.latencySum = 0;
  l.buckets.fill(0);
  l.bucketSums.fill(0);
}

/** Latency read back from a locality's `load_metric_stats` (the control plane's side). */
export interface LatencyStats {
  count: number;
  sumMs: number;
  /** Per-bucket counts and sums, aligned with {@link LATENCY_BOUNDS_MS} plus one; undefined when not reported. */
  buckets?: Float64Array;
  bucketSums?: Float64Array;
}

/** Reads enmesh's latency entries from `load_metric_stats`; undefined when there are none. */
export function readLatency(
  metrics: readonly { metric_name?: string; num_requests_finished_with_metric?: number | string; total_metric_value?: number }[] | undefined,
): LatencyStats | undefined {
  if (metrics === undefined) return undefined;
  let out: LatencyStats | undefined;
  for (const m of metrics) {
    const name = m.metric_name ?? '';
    if (!name.startsWith(LATENCY_METRIC)) continue;
    out ??= { count: 0, sumMs: 0 };
    const n = Number(m.num_requests_finished_with_metric ?? 0);
    const v = Number(m.total_metric_value ?? 0);
    if (name === LATENCY_METRIC) {
      out.count += n;
      out.sumMs += v;
      continue;
    }
    const i = BUCKET_NAMES.indexOf(name);
    if (i < 0) continue;
    out.buckets ??= new Float64Array(BUCKET_NAMES.length);
    out.bucketSums ??= new Float64Array(BUCKET_NAMES.length);
    out.buckets[i]! += n;
    out.bucketSums[i]! += v;
  }
  return out;
}

/**
 * The `q` quantile (0..1) of bucketed latencies, interpolating linearly inside
 * the bucket as Prometheus' histogram_quantile does; the open last bucket
 * answers with its own mean. Undefined when the buckets are empty.
 */
export function latencyQuantile(buckets: Float64Array, bucketSums: Float64Array, q: number): number | undefined {
  let total = 0;
  for (const n of buckets) total += n;
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (n === 0) continue;
    if (seen + n >= rank) {
      if (i >= LATENCY_BOUNDS_MS.length) return bucketSums[i]! / n;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const upper = LATENCY_BOUNDS_MS[i]!;
      return lower + ((upper - lower) * (rank - seen)) / n;
    }
    seen += n;
  }
  return undefined;
}
