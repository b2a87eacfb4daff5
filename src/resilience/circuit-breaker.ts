/**
 * A rolling-window circuit breaker for one service: when failures exceed a
 * share of the recent requests it opens and the call answers at once (503,
 * flag UO) instead of piling more load on a failing backend; after
 * `resetTimeout` it half-opens and lets a few probes through; a successful
 * probe closes it, a failed one opens it again.
 *
 * The state machine is opossum's (its open → half-open timer, its events and
 * state getters), but opossum's `fire()` is not used on the request path: it
 * costs a promise chain per call and, on every failure, re-sums its window
 * and sorts every latency recorded in it (measured: ~0.5 µs per successful
 * call, and hundreds of µs per failure at a few thousand requests per window;
 * see docs/resilience.md). Instead the call reports outcomes here, counted in
 * preallocated ring buffers, and this module drives opossum's `open()` /
 * `close()` itself. Per-request cost: a state read and two array increments.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type Opossum from 'opossum';
import type { CircuitBreakerModel } from '../model/types.ts';
import type { Clock } from '../policy/retry-budget.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Buckets of the rolling window (opossum's default too). */
const BUCKETS = 10;

export interface BreakerCounters {
  /** Requests refused because the breaker was open (or half-open with its probes in flight). */
  rejected: number;
  /** Times it opened. */
  opened: number;
  /** Times it half-opened. */
  halfOpened: number;
  /** Times it closed again after probing. */
  closed: number;
}

export interface BreakerSnapshot {
  readonly name: string;
  readonly state: BreakerState;
  /** Requests and failures in the rolling window. */
  readonly requests: number;
  readonly failures: number;
  /** Wall-clock ms (`Date.now()`) of the last transition, 0 if none. */
  readonly since: number;
  readonly counters: Readonly<BreakerCounters>;
}

/**
 * opossum is loaded by the first breaker, not at import: most services
 * configure none, and the package is about 0.1 MB of memory once loaded.
 */
let OpossumClass: typeof Opossum | undefined;
function loadOpossum(): typeof Opossum {
  return (OpossumClass ??= createRequire(import.meta.url)('opossum') as typeof Opossum);
}

/** Options opossum accepts that its type definitions do not list. */
interface OpossumExtraOptions {
  enableSnapshots: boolean;
  rotateBucketController: EventEmitter;
}

const noop = (): Promise<void> => Promise.resolve();

export class CircuitBreaker {
  readonly name: string;
  readonly counters: BreakerCounters = { rejected: 0, opened: 0, halfOpened: 0, closed: 0 };

  readonly #opossum: Opossum;
  readonly #now: Clock;
  readonly #successes = new Float64Array(BUCKETS);
  readonly #failures = new Float64Array(BUCKETS);
  #requestTotal = 0;
  #failureTotal = 0;
  /** Index of the newest bucket, as a bucket number since the clock's origin. */
  #bucket: number;
  readonly #bucketMs: number;
  readonly #threshold: number;
  readonly #volume: number;
  readonly #halfOpenRequests: number;
  #probes = 0;
  #since = 0;

  constructor(name: string, model: CircuitBreakerModel, now: Clock = () => performance.now()) {
    this.name = name;
    this.#now = now;
    this.#bucketMs = Math.max(1, model.windowMs / BUCKETS);
    this.#bucket = Math.floor(now() / this.#bucketMs);
    this.#threshold = model.errorThresholdPercent;
    this.#volume = model.volumeThreshold;
    this.#halfOpenRequests = model.halfOpenRequests;
    const options: Opossum.Options & OpossumExtraOptions = {
      name,
      resetTimeout: model.resetTimeoutMs,
      timeout: false,
      rollingPercentilesEnabled: false,
      // No snapshot timer, and buckets that never rotate: opossum's own stats are unused.
      enableSnapshots: false,
      rotateBucketController: new EventEmitter(),
    };
    this.#opossum = new (loadOpossum())(noop, options);
    this.#opossum.on('open', () => this.#transition(() => this.counters.opened++));
    this.#opossum.on('halfOpen', () => this.#transition(() => this.counters.halfOpened++));
    this.#opossum.on('close', () => this.#transition(() => this.counters.closed++));
  }

  get state(): BreakerState {
    const o = this.#opossum;
    return o.opened ? 'open' : o.halfOpen ? 'half-open' : 'closed';
  }

  /**
   * True when a request may be sent now. While half-open, only
   * `halfOpenRequests` probes are let through until one of them reports.
   * Every admitted request must report exactly once: onSuccess, onFailure or onCancel.
   */
  tryAcquire(): boolean {
    const o = this.#opossum;
    if (o.closed) return true;
    if (o.halfOpen && this.#probes < this.#halfOpenRequests) {
      this.#probes++;
      return true;
    }
    if (o.isShutdown) return true; // closed with its config: never block traffic
    this.counters.rejected++;
    return false;
  }

  /** The request got a response that is not a failure. `now`: the caller's reading of the breaker's clock, if it has one. */
  onSuccess(now?: number): void {
    const o = this.#opossum;
    if (o.closed) {
      this.#successes[this.#advance(now)]++;
      this.#requestTotal++;
      return;
    }
    if (o.halfOpen) o.close();
  }

  /** The request failed: a 5xx, a connect failure, a reset, a per-try timeout. */
  onFailure(now?: number): void {
    const o = this.#opossum;
    if (o.closed) {
      this.#failures[this.#advance(now)]++;
      this.#requestTotal++;
      this.#failureTotal++;
      if (this.#requestTotal >= this.#volume && (this.#failureTotal * 100) / this.#requestTotal > this.#threshold) o.open();
      return;
    }
    if (o.halfOpen) o.open();
  }

  /** An admitted request ended without an outcome (cancelled by the caller): frees its probe slot. */
  onCancel(): void {
    if (this.#opossum.halfOpen && this.#probes > 0) this.#probes--;
  }

  snapshot(): BreakerSnapshot {
    this.#advance();
    return {
      name: this.name,
      state: this.state,
      requests: this.#requestTotal,
      failures: this.#failureTotal,
      since: this.#since,
      counters: { ...this.counters },
    };
  }

  /** Stops opossum's reset timer. */
  close(): void {
    this.#opossum.shutdown();
  }

  #transition(count: () => void): void {
    count();
    this.#since = Date.now();
    this.#probes = 0;
    // A fresh window after every transition: failures from before the
    // outage must not reopen a breaker that probing has just closed.
    this.#successes.fill(0);
    this.#failures.fill(0);
    this.#requestTotal = 0;
    this.#failureTotal = 0;
  }

  /** Moves the window to now, clearing expired buckets; returns the current bucket's index. */
  #advance(at?: number): number {
    const bucket = Math.floor((at ?? this.#now()) / this.#bucketMs);
    const gap = bucket - this.#bucket;
    if (gap > 0) {
      if (gap >= BUCKETS) {
        this.#successes.fill(0);
        this.#failures.fill(0);
        this.#requestTotal = 0;
        this.#failureTotal = 0;
      } else {
        for (let b = this.#bucket + 1; b <= bucket; b++) {
          const i = b % BUCKETS;
          this.#requestTotal -= this.#successes[i] + this.#failures[i];
          this.#failureTotal -= this.#failures[i];
          this.#successes[i] = 0;
          this.#failures[i] = 0;
        }
      }
      this.#bucket = bucket;
    }
    return this.#bucket % BUCKETS;
  }
}
