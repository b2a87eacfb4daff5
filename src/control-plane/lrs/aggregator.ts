/**
 * Load reports → a live view of the mesh: per destination service its
 * request rate, success share, requests in flight and latency percentiles,
 * and who calls whom (edges from the reporting client's service to the
 * service of the cluster it reports on).
 *
 * Reports are kept for a sliding window, by arrival. A rate is each reporter's
 * requests over the time its reports cover (their `load_report_interval`s),
 * summed over reporters: clients reporting at different intervals add up
 * correctly. A reporter whose stream ended stops counting towards rates and
 * requests in progress at once; its reports still count towards requests,
 * success and latency until they leave the window, and the same node
 * reconnecting takes them back (no double counting across a reconnection).
 *
 * Reporters are clients: what they send is bounded per reporter (destinations,
 * clusters, samples, name lengths; see {@link REPORTER_LIMITS}) and checked (see
 * {@link MAX_REPORTED_COUNT}); an entry over a limit or with bogus figures is
 * ignored as a whole and said so in {@link IngestResult}.
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

/** What one reporter may make the aggregator keep. */
export const REPORTER_LIMITS = Object.freeze({
  /** Destination services with traffic or policy state. */
  destinations: 256,
  /** Clusters (subsets) per destination service. */
  clustersPerDestination: 64,
  /** Samples kept (one per cluster per report); beyond it the oldest go first. */
  samples: 4096,
  /** Length of a cluster or EDS service name. */
  nameLength: 512,
  /** Ejected endpoints per destination service. */
  ejectedPerDestination: 256,
});

/**
 * Largest count (requests issued, finished, in progress, dropped) one cluster
 * entry of a report may carry: far beyond any real client, and small enough
 * that sums over many reporters stay exact in a double.
 */
export const MAX_REPORTED_COUNT = 1e12;

/** The longest `load_report_interval` a Duration may hold (10 000 years). */
const MAX_INTERVAL_MS = 315_576_000_000 * 1000;

/** What became of a report. */
export interface IngestResult {
  /** Cluster entries ignored. */
  readonly rejected: number;
  /** Why the first of them was. */
  readonly reason?: string;
}

interface Sample {
  readonly at: number;
  /** Which report it came in: the samples of one report cover the same time. */
  readonly report: number;
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
  readonly owner: ReporterState;
  readonly destination: string;
  /** Clusters of the samples held. */
  clusters: Set<string>;
  samples: Sample[];
}

interface ReporterState {
  readonly reporter: Reporter;
  /** By destination service. */
  readonly series: Map<string, Series>;
  /** Samples held over all series. */
  samples: number;
  last: number | undefined;
  /** Connected through {@link LoadAggregator.connect}: listed among the reporters. */
  listed: boolean;
  /** Its stream ended. */
  ended: boolean;
}

export interface LatencyView {
  readonly meanMs: number | null;
  /** Null when no reporter sent latency buckets. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface TrafficView {
  /** Requests issued, as reported in the reports received in the window. */
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

/** A reported count: a whole number in 0..MAX_REPORTED_COUNT, else NaN. */
function count(v: string | number | undefined | null): number {
  const n = v == null ? 0 : Number(v);
  return Number.isInteger(n) && n >= 0 && n <= MAX_REPORTED_COUNT ? n : Number.NaN;
}

/** A reported Duration in ms: finite, not negative, within the type's range, else NaN. */
function durationMs(d: { seconds?: string | number; nanos?: number } | null | undefined): number {
  if (d == null) return 0;
  const seconds = d.seconds == null ? 0 : Number(d.seconds);
  const nanos = d.nanos == null ? 0 : Number(d.nanos);
  const ms = seconds * 1000 + nanos / 1e6;
  return Number.isFinite(ms) && seconds >= 0 && nanos >= 0 && nanos < 1e9 && ms <= MAX_INTERVAL_MS ? ms : Number.NaN;
}

/** How often old samples are swept even when nobody reads the view. */
const PRUNE_EVERY_MS = 1000;

export class LoadAggregator {
  readonly windowMs: number;
  readonly #now: () => number;
  /** By reporter (stream) id. */
  readonly #reporters = new Map<string, ReporterState>();
  /** By reporter id: the policy state of its latest report (replaced by each report). */
  readonly #policies = new Map<string, { reporter: Reporter; state: ReporterPolicy }>();
  readonly #policyListeners = new Set<() => void>();
  #prunedAt = Number.NEGATIVE_INFINITY;
  #reports = 0;

  constructor(options: LoadAggregatorOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * A reporter opened its stream. Reports of an earlier stream of the same node
   * (same node id and service) that ended become this stream's: a reconnecting
   * client continues its figures rather than counting twice.
   */
  connect(reporter: Reporter, now = this.#now()): void {
    this.#maybePrune(now);
    const state = this.#state(reporter);
    state.listed = true;
    state.ended = false;
    if (reporter.nodeId === '') return;
    for (const [id, old] of this.#reporters) {
      if (old === state || !old.ended || old.reporter.nodeId !== reporter.nodeId || old.reporter.service !== reporter.service) continue;
      this.#reporters.delete(id);
      this.#adopt(state, old);
    }
  }

  /** A reporter's stream ended: it no longer counts towards rates and requests in progress. */
  disconnect(id: string, now = this.#now()): void {
    const state = this.#reporters.get(id);
    if (state !== undefined) {
      state.listed = false;
      state.ended = true;
      if (state.series.size === 0) this.#reporters.delete(id);
    }
    // A gone client's breakers and ejections no longer affect anyone.
    if (this.#policies.delete(id)) this.#policyChanged();
    this.#maybePrune(now);
  }

  /** What is held, for diagnostics: reporters (connected or with reports in the window), series, samples. */
  get retained(): { reporters: number; series: number; samples: number } {
    let series = 0;
    let samples = 0;
    for (const s of this.#reporters.values()) {
      series += s.series.size;
      samples += s.samples;
    }
    return { reporters: this.#reporters.size, series, samples };
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

  #ingestPolicy(reporter: Reporter, entries: readonly Accepted[]): void {
    const state: ReporterPolicy = new Map();
    for (const { cs, cluster, destination } of entries) {
      for (const l of cs.upstream_locality_stats ?? []) {
        const breaker = l.load_metric_stats?.some((m) => m.metric_name === BREAKER_OPEN_METRIC && Number(m.total_metric_value ?? 0) > 0) === true;
        const ejected: string[] = [];
        for (const e of l.upstream_endpoint_stats ?? []) {
          if (e.load_metric_stats?.some((m) => m.metric_name === EJECTED_METRIC && Number(m.total_metric_value ?? 0) > 0) !== true) continue;
          const sa = e.address?.socket_address;
          if (sa?.address === undefined || sa.address.length > REPORTER_LIMITS.nameLength) continue;
          ejected.push(`${sa.address.includes(':') ? `[${sa.address}]` : sa.address}:${sa.port_value ?? 0}`);
        }
        if (!breaker && ejected.length === 0) continue;
        let p = state.get(destination);
        if (p === undefined) state.set(destination, (p = { breakers: new Set(), ejected: new Set() }));
        if (breaker && p.breakers.size < REPORTER_LIMITS.clustersPerDestination) p.breakers.add(cluster);
        for (const a of ejected) if (p.ejected.size < REPORTER_LIMITS.ejectedPerDestination) p.ejected.add(a);
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

  ingest(reporter: Reporter, stats: readonly ReceivedClusterStats[], now = this.#now()): IngestResult {
    this.#maybePrune(now);
    const owner = this.#state(reporter);
    owner.last = now;
    const report = ++this.#reports;
    let rejected = 0;
    let reason: string | undefined;
    const reject = (why: string): void => {
      rejected++;
      reason ??= why;
    };
    // Names first: which entries this reporter may make the aggregator keep anything for.
    const accepted: Accepted[] = [];
    const destinations = new Set(owner.series.keys());
    for (const cs of stats) {
      const cluster = cs.cluster_name ?? '';
      if (cluster === '') {
        reject('an entry without cluster_name');
        continue;
      }
      if (cluster.length > REPORTER_LIMITS.nameLength || (cs.cluster_service_name?.length ?? 0) > REPORTER_LIMITS.nameLength) {
        reject(`a cluster name longer than ${REPORTER_LIMITS.nameLength}`);
        continue;
      }
      const destination = destinationOf(cluster, cs.cluster_service_name);
      if (!destinations.has(destination)) {
        if (destinations.size >= REPORTER_LIMITS.destinations) {
          reject(`more than ${REPORTER_LIMITS.destinations} destination services`);
          continue;
        }
        destinations.add(destination);
      }
      accepted.push({ cs, cluster, destination });
    }
    // Every report carries the reporter's whole policy state: no entry means nothing open or ejected.
    this.#ingestPolicy(reporter, accepted);
    for (const { cs, cluster, destination } of accepted) {
      let issued = 0;
      let succeeded = 0;
      let errored = 0;
      let inProgress = 0;
      let latencyCount = 0;
      let latencySum = 0;
      let buckets: Float64Array | undefined;
      let bucketSums: Float64Array | undefined;
      for (const l of cs.upstream_locality_stats ?? []) {
        issued += count(l.total_issued_requests);
        succeeded += count(l.total_successful_requests);
        errored += count(l.total_error_requests);
        inProgress += count(l.total_requests_in_progress);
        const lat = readLatency(l.load_metric_stats);
        if (lat === undefined) continue;
        latencyCount += count(lat.count);
        latencySum += lat.sumMs >= 0 ? lat.sumMs : Number.NaN;
        if (lat.buckets !== undefined && lat.bucketSums !== undefined) {
          buckets ??= new Float64Array(lat.buckets.length);
          bucketSums ??= new Float64Array(lat.buckets.length);
          for (let i = 0; i < lat.buckets.length; i++) {
            buckets[i]! += count(lat.buckets[i]);
            bucketSums[i]! += lat.bucketSums[i]! >= 0 ? lat.bucketSums[i]! : Number.NaN;
          }
        }
      }
      const dropped = count(cs.total_dropped_requests);
      const intervalMs = durationMs(cs.load_report_interval);
      // NaN (a bad figure) fails every comparison, so lands here too.
      if (!(issued <= MAX_REPORTED_COUNT && succeeded <= MAX_REPORTED_COUNT && errored <= MAX_REPORTED_COUNT && inProgress <= MAX_REPORTED_COUNT && dropped <= MAX_REPORTED_COUNT) || !validLatency(latencyCount, latencySum, buckets, bucketSums)) {
        reject(`bad figures for ${cluster} (negative, fractional, not a number or above ${MAX_REPORTED_COUNT})`);
        continue;
      }
      if (Number.isNaN(intervalMs)) {
        reject(`a bad load_report_interval for ${cluster}`);
        continue;
      }
      // An entry that only carries policy state (no traffic, no interval) is not a traffic sample.
      // Traffic over an interval of 0 counts, but not towards rates: it covers no time.
      if (intervalMs === 0 && issued === 0 && succeeded === 0 && errored === 0 && inProgress === 0 && dropped === 0) continue;
      let series = owner.series.get(destination);
      if (series === undefined) owner.series.set(destination, (series = { owner, destination, clusters: new Set(), samples: [] }));
      if (!series.clusters.has(cluster)) {
        if (series.clusters.size >= REPORTER_LIMITS.clustersPerDestination) {
          reject(`more than ${REPORTER_LIMITS.clustersPerDestination} clusters of ${destination}`);
          continue;
        }
        series.clusters.add(cluster);
      }
      series.samples.push({ at: now, report, cluster, intervalMs, issued, succeeded, errored, dropped, inProgress, latencyCount, latencySum, buckets, bucketSums });
      owner.samples++;
    }
    trim(owner);
    return reason === undefined ? { rejected } : { rejected, reason };
  }

  view(now = this.#now()): LoadView {
    this.#prune(now);
    const byService = new Map<string, Series[]>();
    const byEdge = new Map<string, Series[]>();
    for (const state of this.#reporters.values()) {
      for (const s of state.series.values()) {
        push(byService, s.destination, s);
        push(byEdge, `${state.reporter.service}\u0000${s.destination}`, s);
      }
    }
    const services: ServiceLoadView[] = [...byService].map(([service, series]) => ({
      service,
      clusters: [...new Set(series.flatMap((s) => [...s.clusters]))].sort(),
      reporters: new Set(series.map((s) => s.owner)).size,
      ...traffic(series),
    }));
    const edges: EdgeView[] = [...byEdge.values()].map((series) => ({
      source: series[0]!.owner.reporter.service,
      destination: series[0]!.destination,
      ...traffic(series),
    }));
    services.sort((a, b) => a.service.localeCompare(b.service));
    edges.sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));
    const reporters = [...this.#reporters.values()]
      .filter((s) => s.listed)
      .map(({ reporter, last }) => ({
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
    for (const state of this.#reporters.values()) {
      for (const s of state.series.values()) {
        if (!s.clusters.has(cluster)) continue;
        const samples = s.samples.filter((x) => x.cluster === cluster && x.at >= since);
        if (samples.length > 0) picked.push({ ...s, samples });
      }
    }
    return picked.length === 0 ? undefined : traffic(picked);
  }

  #state(reporter: Reporter): ReporterState {
    let state = this.#reporters.get(reporter.id);
    if (state === undefined) {
      state = { reporter, series: new Map(), samples: 0, last: undefined, listed: false, ended: false };
      this.#reporters.set(reporter.id, state);
    }
    return state;
  }

  /** Moves an ended stream's series into `state` (older samples first), within the limits. */
  #adopt(state: ReporterState, old: ReporterState): void {
    for (const [destination, from] of old.series) {
      let into = state.series.get(destination);
      if (into === undefined) {
        if (state.series.size >= REPORTER_LIMITS.destinations) continue;
        state.series.set(destination, (into = { owner: state, destination, clusters: new Set(), samples: [] }));
      }
      const samples = [...from.samples, ...into.samples].filter((x) => into.clusters.has(x.cluster) || into.clusters.size < REPORTER_LIMITS.clustersPerDestination);
      into.samples = samples.sort((a, b) => a.report - b.report);
      into.clusters = new Set(samples.map((x) => x.cluster));
    }
    state.samples = 0;
    for (const s of state.series.values()) state.samples += s.samples.length;
    trim(state);
  }

  #maybePrune(now: number): void {
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) this.#prune(now);
  }

  #prune(now: number): void {
    this.#prunedAt = now;
    const oldest = now - this.windowMs;
    for (const [id, state] of this.#reporters) {
      for (const [destination, s] of state.series) {
        if (s.samples.length > 0 && s.samples[0]!.at < oldest) {
          const kept = s.samples.filter((x) => x.at >= oldest);
          state.samples -= s.samples.length - kept.length;
          s.samples = kept;
          s.clusters = new Set(kept.map((x) => x.cluster));
        }
        if (s.samples.length === 0) state.series.delete(destination);
      }
      if (!state.listed && state.series.size === 0) this.#reporters.delete(id);
    }
  }
}

/** An entry of a report whose names were accepted. */
interface Accepted {
  readonly cs: ReceivedClusterStats;
  readonly cluster: string;
  readonly destination: string;
}

function validLatency(count: number, sum: number, buckets: Float64Array | undefined, sums: Float64Array | undefined): boolean {
  if (!(count <= MAX_REPORTED_COUNT) || !Number.isFinite(sum)) return false;
  if (buckets === undefined || sums === undefined) return true;
  for (let i = 0; i < buckets.length; i++) if (!(buckets[i]! <= MAX_REPORTED_COUNT) || !Number.isFinite(sums[i]!)) return false;
  return true;
}

/**
 * Drops a reporter's oldest samples beyond its limit, in one pass: its window
 * shrinks, its rates stay right (requests over the time they cover).
 */
function trim(state: ReporterState): void {
  let excess = state.samples - REPORTER_LIMITS.samples;
  if (excess <= 0) return;
  const reports = new Float64Array(state.samples);
  let i = 0;
  for (const s of state.series.values()) for (const x of s.samples) reports[i++] = x.report;
  const cut = reports.sort()[excess - 1]!;
  // Each series holds its samples in report order: the oldest lead.
  for (const pass of [(r: number) => r < cut, (r: number) => r === cut]) {
    for (const [destination, s] of state.series) {
      let n = 0;
      while (excess > 0 && n < s.samples.length && pass(s.samples[n]!.report)) {
        n++;
        excess--;
      }
      if (n === 0) continue;
      const gone = s.samples.splice(0, n);
      state.samples -= n;
      if (s.samples.length === 0) state.series.delete(destination);
      else if (gone.some((x) => !s.samples.some((y) => y.cluster === x.cluster))) s.clusters = new Set(s.samples.map((x) => x.cluster));
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
    // Over the reports that cover some time: those of an interval of 0 count in no rate.
    let timedIssued = 0;
    let timedDropped = 0;
    let covered = 0;
    let lastReport = Number.NaN;
    let reportMs = 0;
    let reportIssued = 0;
    let reportDropped = 0;
    let lastInProgress = 0;
    const closeReport = (): void => {
      if (reportMs <= 0) return;
      covered += reportMs;
      timedIssued += reportIssued;
      timedDropped += reportDropped;
    };
    for (const x of s.samples) {
      issued += x.issued;
      // One report holds a sample per cluster of the service (one per subset): it covers the
      // longest of their intervals (a cluster first used during it has a shorter one), once,
      // and its in-progress figures add up.
      if (x.report !== lastReport) {
        closeReport();
        reportMs = 0;
        reportIssued = 0;
        reportDropped = 0;
        lastInProgress = 0;
        lastReport = x.report;
      }
      if (x.intervalMs > reportMs) reportMs = x.intervalMs;
      reportIssued += x.issued;
      reportDropped += x.dropped;
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
    closeReport();
    requests += issued;
    // A reporter whose stream ended sends nothing any more (or counts again under its new stream).
    if (s.owner.ended) continue;
    if (covered > 0) {
      rate += (timedIssued * 1000) / covered;
      droppedRate += (timedDropped * 1000) / covered;
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
