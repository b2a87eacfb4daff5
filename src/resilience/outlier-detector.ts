/**
 * Passive outlier detection for the endpoints of one service, with Envoy's
 * semantics: an endpoint that fails several times in a row (5xx, gateway
 * errors, or local-origin failures such as refused connections) or whose
 * success rate falls far below its peers' is ejected for a while. Ejection
 * flips `EndpointState.available`, which every balancer already consults.
 *
 * Ejection time is `baseEjectionTime × k`, where k counts the endpoint's
 * recent ejections (capped at `maxEjectionTime`); k decreases by one at each
 * interval tick at least one interval after the endpoint's restore. An
 * endpoint is restored by its own timer at the end of its ejection time
 * (Envoy restores at the next interval tick, up to one interval later).
 *
 * An endpoint is ejected only while fewer than `maxEjectionPercent` of the
 * endpoints are (so, as in Envoy, one endpoint can always be ejected when the
 * percentage is above 0).
 *
 * Panic: when the available share of endpoints drops below
 * `panicThresholdPercent`, ejections are suspended (the ejected endpoints get
 * traffic again) until enough have been restored, because sending everything
 * to the few endpoints left is what makes a partial outage total.
 *
 * Per-result cost: one Map lookup and a few integer updates.
 */
import type { EndpointState } from '../cluster/types.ts';
import type { OutlierDetectionModel, SuccessRateModel } from '../model/types.ts';
import { classifyError } from '../policy/retry-classifier.ts';

/**
 * How an attempt ended, as outlier detection sees it:
 * - `success`: any response that is not a 5xx (a 404 is the caller's problem, not the endpoint's);
 * - `5xx`: a 500, 501, 505 and the like;
 * - `gateway`: 502, 503 or 504;
 * - `local-failure`: no response because of the endpoint (connect failure, reset, per-try timeout).
 * Attempts that ended for other reasons (the caller cancelled, the route's total
 * timeout) are not reported at all.
 */
export type Outcome = 'success' | '5xx' | 'gateway' | 'local-failure';

export type EjectionReason = 'consecutive-5xx' | 'consecutive-gateway' | 'consecutive-local-origin' | 'success-rate';

/** Envoy's default cap on one ejection. */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;
/** Envoy's default healthy-panic threshold. */
export const DEFAULT_PANIC_THRESHOLD_PERCENT = 50;

/** The outcome of an HTTP response status. */
export function outcomeForStatus(status: number): Outcome {
  if (status < 500 || status > 599) return 'success';
  return status >= 502 && status <= 504 ? 'gateway' : '5xx';
}

/**
 * The outcome of a gRPC status, mapped as Envoy maps them to HTTP: UNAVAILABLE
 * (503) and DEADLINE_EXCEEDED (504) are gateway errors; UNKNOWN, UNIMPLEMENTED,
 * INTERNAL and DATA_LOSS (500/501) are 5xx; every other code is the caller's
 * business.
 */
export function outcomeForGrpcStatus(code: number): Outcome {
  switch (code) {
    case 14:
    case 4:
      return 'gateway';
    case 2:
    case 12:
    case 13:
    case 15:
      return '5xx';
    default:
      return 'success';
  }
}

/** The outcome of a transport error, or undefined when the endpoint is not to blame (caller abort, total timeout). */
export function outcomeForError(err: unknown): Outcome | undefined {
  const cls = classifyError(err);
  return cls === 'other' ? undefined : 'local-failure';
}

/** Live counters of one endpoint. */
class HostStats {
  readonly ep: EndpointState;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  /** Requests and successes in the current interval, for success-rate ejection. */
  total = 0;
  successes = 0;
  /** Ejection multiplier: ejections not yet forgiven. */
  multiplier = 0;
  ejected = false;
  since = 0;
  until = 0;
  /** When it was last restored (wall-clock ms). */
  restoredAt = 0;
  reason: EjectionReason | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(ep: EndpointState) {
    this.ep = ep;
  }
}

export interface OutlierCounters {
  /** Ejections by reason. */
  ejectedConsecutive5xx: number;
  ejectedConsecutiveGateway: number;
  ejectedConsecutiveLocalOrigin: number;
  ejectedSuccessRate: number;
  /** Ejections that were due but refused by maxEjectionPercent. */
  ejectionsOverflow: number;
  /** Endpoints restored after their ejection time. */
  unejections: number;
  /** Times the detector entered panic. */
  panics: number;
}

export interface EjectedEndpoint {
  /** `host:port` */
  readonly endpoint: string;
  /** Wall-clock ms (`Date.now()`) of the ejection and of the planned restore. */
  readonly since: number;
  readonly until: number;
  readonly reason: EjectionReason;
  /** The ejection multiplier: this ejection lasts `baseEjectionTime ×` this. */
  readonly multiplier: number;
}

export interface OutlierSnapshot {
  readonly name: string;
  readonly endpoints: number;
  readonly ejected: readonly EjectedEndpoint[];
  readonly panic: boolean;
  readonly counters: Readonly<OutlierCounters>;
}

export interface OutlierDetectorOptions {
  /** Wall clock in ms for ejection times. Default `Date.now` (fake timers replace it in tests). */
  readonly now?: () => number;
}

export class OutlierDetector {
  readonly name: string;
  readonly counters: OutlierCounters = {
    ejectedConsecutive5xx: 0,
    ejectedConsecutiveGateway: 0,
    ejectedConsecutiveLocalOrigin: 0,
    ejectedSuccessRate: 0,
    ejectionsOverflow: 0,
    unejections: 0,
    panics: 0,
  };

  #model!: OutlierDetectionModel;
  #hosts = new Map<EndpointState, HostStats>();
  #ejectedCount = 0;
  #panic = false;
  #interval: ReturnType<typeof setInterval> | undefined;
  #intervalMs = 0;
  readonly #now: () => number;

  // Settings digested from the model, read on every result.
  #max5xx = 0;
  #maxGateway = 0;
  #maxLocal = 0;
  /** Local-origin failures have their own counter (Envoy's split_external_local_origin_errors). */
  #split = false;

  constructor(name: string, model: OutlierDetectionModel, endpoints: readonly EndpointState[], options: OutlierDetectorOptions = {}) {
    this.name = name;
    this.#now = options.now ?? Date.now;
    this.update(model, endpoints);
  }

  /**
   * Applies a new config or endpoint set. Endpoints present before keep their
   * counters and ejections; endpoints that left are forgotten.
   */
  update(model: OutlierDetectionModel, endpoints: readonly EndpointState[]): void {
    this.#model = model;
    this.#max5xx = model.consecutive5xx;
    this.#maxGateway = model.consecutiveGatewayErrors ?? 0;
    this.#maxLocal = model.consecutiveLocalOriginFailures ?? 0;
    this.#split = this.#maxLocal > 0;
    const next = new Map<EndpointState, HostStats>();
    for (const ep of endpoints) next.set(ep, this.#hosts.get(ep) ?? new HostStats(ep));
    for (const [ep, h] of this.#hosts) if (!next.has(ep)) clearTimeout(h.timer);
    this.#hosts = next;
    this.#ejectedCount = 0;
    for (const h of next.values()) if (h.ejected) this.#ejectedCount++;
    if (this.#intervalMs !== model.intervalMs) {
      clearInterval(this.#interval);
      this.#intervalMs = model.intervalMs;
      this.#interval = setInterval(() => this.#onInterval(), model.intervalMs);
      this.#interval.unref();
    }
    this.#applyPanic();
  }

  /** Reports how an attempt to `ep` ended. Call once per attempt, at its end. */
  onResult(ep: EndpointState, outcome: Outcome): void {
    const h = this.#hosts.get(ep);
    if (h === undefined) return;
    h.total++;
    switch (outcome) {
      case 'success':
        h.successes++;
        h.consecutive5xx = 0;
        h.consecutiveGateway = 0;
        h.consecutiveLocal = 0;
        return;
      case '5xx':
        h.consecutiveGateway = 0;
        h.consecutiveLocal = 0; // a response came: the endpoint is reachable
        if (++h.consecutive5xx >= this.#max5xx) this.#eject(h, 'consecutive-5xx');
        return;
      case 'gateway':
        h.consecutiveLocal = 0;
        this.#countGateway(h);
        return;
      case 'local-failure':
        if (this.#split) {
          if (++h.consecutiveLocal >= this.#maxLocal) this.#eject(h, 'consecutive-local-origin');
        } else {
          // Not split: a local-origin failure is what the caller sees as a 503.
          this.#countGateway(h);
        }
        return;
    }
  }

  #countGateway(h: HostStats): void {
    const gw = ++h.consecutiveGateway;
    if (this.#maxGateway > 0 && gw >= this.#maxGateway) this.#eject(h, 'consecutive-gateway');
    else if (++h.consecutive5xx >= this.#max5xx) this.#eject(h, 'consecutive-5xx');
  }

  /** True while too few endpoints are available and ejections are suspended. */
  get panic(): boolean {
    return this.#panic;
  }

  /** Endpoints currently ejected (panic or not). */
  get ejectedCount(): number {
    return this.#ejectedCount;
  }

  snapshot(): OutlierSnapshot {
    const ejected: EjectedEndpoint[] = [];
    for (const h of this.#hosts.values()) {
      if (h.ejected && h.reason !== undefined) ejected.push({ endpoint: h.ep.authority, since: h.since, until: h.until, reason: h.reason, multiplier: h.multiplier });
    }
    return { name: this.name, endpoints: this.#hosts.size, ejected, panic: this.#panic, counters: { ...this.counters } };
  }

  /** Stops the timers and gives every ejected endpoint back to the balancers. */
  close(): void {
    clearInterval(this.#interval);
    this.#interval = undefined;
    this.#intervalMs = 0;
    for (const h of this.#hosts.values()) {
      clearTimeout(h.timer);
      if (h.ejected) this.#restore(h, false);
    }
    this.#panic = false;
  }

  #eject(h: HostStats, reason: EjectionReason): void {
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
    h.consecutiveLocal = 0;
    if (h.ejected) return;
    const total = this.#hosts.size;
    if ((this.#ejectedCount * 100) / total >= this.#model.maxEjectionPercent) {
      this.counters.ejectionsOverflow++;
      return;
    }
    h.multiplier++;
    const base = this.#model.baseEjectionTimeMs;
    const cap = Math.max(base, this.#model.maxEjectionTimeMs ?? DEFAULT_MAX_EJECTION_TIME_MS);
    const duration = Math.min(base * h.multiplier, cap);
    h.ejected = true;
    h.reason = reason;
    h.since = this.#now();
    h.until = h.since + duration;
    h.timer = setTimeout(() => this.#restore(h, true), duration);
    h.timer.unref();
    this.#ejectedCount++;
    switch (reason) {
      case 'consecutive-5xx':
        this.counters.ejectedConsecutive5xx++;
        break;
      case 'consecutive-gateway':
        this.counters.ejectedConsecutiveGateway++;
        break;
      case 'consecutive-local-origin':
        this.counters.ejectedConsecutiveLocalOrigin++;
        break;
      case 'success-rate':
        this.counters.ejectedSuccessRate++;
        break;
    }
    this.#applyPanic();
  }

  #restore(h: HostStats, counted: boolean): void {
    h.timer = undefined;
    if (!h.ejected) return;
    h.ejected = false;
    h.reason = undefined;
    h.restoredAt = this.#now();
    // Health information may have marked it unhealthy meanwhile: restore to that, not to true.
    h.ep.available = h.ep.endpoint.healthy;
    this.#ejectedCount--;
    if (counted) this.counters.unejections++;
    this.#applyPanic();
  }

  /** Sets `available` of ejected endpoints according to panic mode. */
  #applyPanic(): void {
    const total = this.#hosts.size;
    let healthy = 0;
    for (const h of this.#hosts.values()) if (!h.ejected && h.ep.endpoint.healthy) healthy++;
    const threshold = this.#model.panicThresholdPercent ?? DEFAULT_PANIC_THRESHOLD_PERCENT;
    const panic = total > 0 && this.#ejectedCount > 0 && (healthy * 100) / total < threshold;
    if (panic && !this.#panic) this.counters.panics++;
    this.#panic = panic;
    for (const h of this.#hosts.values()) if (h.ejected) h.ep.available = panic && h.ep.endpoint.healthy;
  }

  #onInterval(): void {
    const sr = this.#model.successRate;
    if (sr !== undefined) this.#successRateEjections(sr);
    const now = this.#now();
    for (const h of this.#hosts.values()) {
      h.total = 0;
      h.successes = 0;
      // Forgive one past ejection per whole interval spent in service since the restore.
      if (!h.ejected && h.multiplier > 0 && now - h.restoredAt >= this.#intervalMs) h.multiplier--;
    }
  }

  /** Ejects endpoints whose success rate is below mean − stdevFactor × stdev of their peers'. */
  #successRateEjections(sr: SuccessRateModel): void {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (const h of this.#hosts.values()) {
      if (h.ejected || h.total < sr.requestVolume) continue;
      const rate = (h.successes * 100) / h.total;
      n++;
      sum += rate;
      sumSq += rate * rate;
    }
    if (n < sr.minimumHosts || n === 0) return;
    const mean = sum / n;
    const variance = Math.max(0, sumSq / n - mean * mean);
    const threshold = mean - sr.stdevFactor * Math.sqrt(variance);
    for (const h of this.#hosts.values()) {
      if (h.ejected || h.total < sr.requestVolume) continue;
      if ((h.successes * 100) / h.total < threshold) this.#eject(h, 'success-rate');
    }
  }
}
