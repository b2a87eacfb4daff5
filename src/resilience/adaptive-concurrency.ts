/**
 * Adaptive concurrency for inbound requests: a concurrency limit that finds
 * itself, shrinking when requests slow down (they are queueing somewhere:
 * CPU, a pool, the event loop) and growing back when they speed up, so the
 * process sheds load with fast 503s before it falls over instead of after.
 *
 * The algorithm is the gradient one of Netflix's concurrency-limits
 * (Gradient2) and Envoy's adaptive concurrency filter. Every `interval`:
 *
 *     shortRtt  = mean latency of the requests that ended in the interval
 *     longRtt   = baseline: follows shortRtt down at once (halfway per
 *                 interval), up only slowly (at most 0.2 % per interval)
 *     gradient  = clamp(tolerance × longRtt / shortRtt, 0.5, 1)
 *     newLimit  = limit × gradient + √limit          (√limit: room to probe upwards)
 *     limit     = limit × 0.8 + newLimit × 0.2        (smoothing), within [minLimit, maxLimit]
 *
 * The event loop's delay (p99 over the interval, `perf_hooks`) is a second
 * signal: above `maxEventLoopDelay` the gradient is at most
 * `maxEventLoopDelay / delay`, whatever latencies say, because a blocked event
 * loop delays requests before their latency is even measured. The limit does
 * not grow while less than half of it was used in the interval (no evidence it would hold).
 *
 * The asymmetric baseline stands in for Envoy's periodic minRTT probe
 * (which briefly drops the limit to measure unloaded latency): a plain
 * moving average, as in Gradient2, lets the baseline drift up under
 * sustained overload until the overload looks normal, while a baseline that
 * only creeps up keeps the queueing visible yet still adapts, within a few
 * minutes, to a service that has become slower for good (a slow dependency
 * is not this process's overload).
 *
 * Off by default. `dryRun` computes everything and counts the requests that
 * would have been shed, but sheds none. Per request: a comparison and a few
 * additions; the update runs lazily from those calls, at most once per
 * interval, so there is no timer besides the event-loop monitor.
 */
import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import type { AdaptiveConcurrencyModel } from '../model/types.ts';
import type { Clock } from '../policy/retry-budget.ts';

/** The baseline rises by at most this share of itself per interval (×2 in ~350 intervals)... */
const BASELINE_RISE = 0.002;
/** ...and falls by this share of the gap. */
const BASELINE_DROP = 0.5;
const SMOOTHING = 0.2;
const MIN_GRADIENT = 0.5;
/** Latency samples needed to move the limit; fewer are carried into the next interval. */
const MIN_SAMPLES = 10;

/** A source of event-loop delay: p99 in ms since the previous call. */
export type EventLoopDelaySource = () => number;

export interface AdaptiveCounters {
  admitted: number;
  /** Requests shed (answered 503). */
  shed: number;
  /** Dry run: requests that would have been shed. */
  wouldShed: number;
  /** Updates that lowered / raised the limit. */
  decreases: number;
  increases: number;
}

export interface AdaptiveSnapshot {
  readonly name: string;
  readonly limit: number;
  readonly inFlight: number;
  readonly dryRun: boolean;
  /** Baseline and last-interval latencies (ms), last event-loop delay p99 (ms). */
  readonly longRttMs: number;
  readonly shortRttMs: number;
  readonly eventLoopDelayMs: number;
  readonly counters: Readonly<AdaptiveCounters>;
}

export interface AdaptiveOptions {
  readonly now?: Clock;
  /** Default: a `perf_hooks.monitorEventLoopDelay` histogram, reset at each read. */
  readonly eventLoopDelay?: EventLoopDelaySource;
}

export class AdaptiveConcurrencyLimiter {
  readonly name: string;
  readonly model: AdaptiveConcurrencyModel;
  readonly counters: AdaptiveCounters = { admitted: 0, shed: 0, wouldShed: 0, decreases: 0, increases: 0 };
  #limit: number;
  /** Whole requests admitted at once: floor of the limit, at least 1. */
  #admit: number;
  #inFlight = 0;
  /** Most requests in flight at once during the interval. */
  #peak = 0;
  #sum = 0;
  #count = 0;
  #longRtt = 0;
  #shortRtt = 0;
  #eld = 0;
  #next: number;
  readonly #now: Clock;
  readonly #eventLoopDelay: EventLoopDelaySource;
  readonly #monitor: ELDHistogram | undefined;

  constructor(name: string, model: AdaptiveConcurrencyModel, options: AdaptiveOptions = {}) {
    this.name = name;
    this.model = model;
    this.#limit = model.initialLimit;
    this.#admit = Math.max(1, Math.floor(model.initialLimit));
    this.#now = options.now ?? (() => performance.now());
    this.#next = this.#now() + model.intervalMs;
    if (options.eventLoopDelay !== undefined) {
      this.#eventLoopDelay = options.eventLoopDelay;
    } else if (model.maxEventLoopDelayMs > 0) {
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      this.#monitor = h;
      this.#eventLoopDelay = () => {
        const p99 = h.count > 0 ? h.percentile(99) / 1e6 : 0;
        h.reset();
        return p99;
      };
    } else {
      this.#eventLoopDelay = () => 0;
    }
  }

  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** True when the request may proceed (call {@link release} when it ends); false: answer 503 now. */
  tryAcquire(): boolean {
    const now = this.#now();
    if (now >= this.#next) this.#update(now);
    if (this.#inFlight >= this.#admit) {
      if (!this.model.dryRun) {
        this.counters.shed++;
        return false;
      }
      this.counters.wouldShed++;
    }
    if (++this.#inFlight > this.#peak) this.#peak = this.#inFlight;
    this.counters.admitted++;
    return true;
  }

  /** An admitted request ended after `latencyMs`. */
  release(latencyMs: number): void {
    if (this.#inFlight > 0) this.#inFlight--;
    this.#sum += latencyMs;
    this.#count++;
  }

  snapshot(): AdaptiveSnapshot {
    return {
      name: this.name,
      limit: this.#limit,
      inFlight: this.#inFlight,
      dryRun: this.model.dryRun,
      longRttMs: this.#longRtt,
      shortRttMs: this.#shortRtt,
      eventLoopDelayMs: this.#eld,
      counters: { ...this.counters },
    };
  }

  /** Stops the event-loop monitor. */
  close(): void {
    this.#monitor?.disable();
  }

  #update(now: number): void {
    const m = this.model;
    // Skip whole intervals that passed idle; the next update is one interval from now.
    this.#next = now + m.intervalMs;
    const eld = this.#eventLoopDelay();
    this.#eld = eld;
    let gradient = 1;
    let measured = false;
    if (this.#count >= MIN_SAMPLES) {
      const short = this.#sum / this.#count;
      this.#shortRtt = short;
      const long = this.#longRtt;
      if (long === 0) this.#longRtt = short;
      else if (short < long) this.#longRtt = long + (short - long) * BASELINE_DROP;
      else this.#longRtt = Math.min(short, long * (1 + BASELINE_RISE));
      gradient = (m.tolerance * this.#longRtt) / short;
      measured = true;
      this.#sum = 0;
      this.#count = 0;
    }
    const peak = this.#peak;
    this.#peak = this.#inFlight;
    if (m.maxEventLoopDelayMs > 0 && eld > m.maxEventLoopDelayMs) {
      const byLoop = m.maxEventLoopDelayMs / eld;
      if (byLoop < gradient) gradient = byLoop;
      measured = true;
    }
    if (!measured) return;
    if (gradient > 1) gradient = 1;
    if (gradient < MIN_GRADIENT) gradient = MIN_GRADIENT;
    const limit = this.#limit;
    let next = limit * gradient + Math.sqrt(limit);
    // Don't grow on no evidence: most of the limit was unused.
    if (next > limit && peak < limit / 2) next = limit;
    next = limit * (1 - SMOOTHING) + next * SMOOTHING;
    if (next < m.minLimit) next = m.minLimit;
    if (next > m.maxLimit) next = m.maxLimit;
    if (next < limit) this.counters.decreases++;
    else if (next > limit) this.counters.increases++;
    this.#limit = next;
    this.#admit = Math.max(1, Math.floor(next));
  }
}
