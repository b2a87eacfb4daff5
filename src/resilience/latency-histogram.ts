/**
 * Recent latencies of one backend, for percentile-based hedging: a
 * log-bucketed histogram (10 % wide buckets from 10 µs to about 2 minutes)
 * over a sliding window made of two halves, so old samples age out without
 * keeping any of them. Recording is a logarithm and an increment; a
 * percentile is a scan of ~170 buckets, cached for `refreshMs`, so asking for
 * it on every request is cheap too.
 */
import type { Clock } from '../policy/retry-budget.ts';

const MIN_MS = 0.01;
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets from MIN_MS up to MIN_MS × 1.1^171 ≈ 120 s; slower samples land in the last. */
const BUCKETS = 172;

export interface LatencyHistogramOptions {
  /** Each half of the window; samples live between one and two halves. Default 5 s. */
  readonly halfWindowMs?: number;
  /** Samples needed before a percentile is reported. Default 50. */
  readonly minSamples?: number;
  /** How long a computed percentile is reused. Default 100 ms. */
  readonly refreshMs?: number;
  readonly now?: Clock;
}

export class LatencyHistogram {
  #current = new Float64Array(BUCKETS);
  #previous = new Float64Array(BUCKETS);
  #currentCount = 0;
  #previousCount = 0;
  #halfStart: number;
  readonly #halfWindowMs: number;
  readonly #minSamples: number;
  readonly #refreshMs: number;
  readonly #now: Clock;
  // One cached answer: routes sharing a backend usually ask for the same percentile.
  #cachedP = -1;
  #cachedValue = -1;
  #cachedAt = -Infinity;

  constructor(options: LatencyHistogramOptions = {}) {
    this.#halfWindowMs = options.halfWindowMs ?? 5_000;
    this.#minSamples = options.minSamples ?? 50;
    this.#refreshMs = options.refreshMs ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#halfStart = this.#now();
  }

  record(latencyMs: number): void {
    this.#rotate(this.#now());
    let i = latencyMs > MIN_MS ? Math.floor(Math.log(latencyMs / MIN_MS) / LOG_GROWTH) : 0;
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.#current[i]++;
    this.#currentCount++;
  }

  /** Samples in the window. */
  get count(): number {
    this.#rotate(this.#now());
    return this.#currentCount + this.#previousCount;
  }

  /**
   * The latency (ms) below which `p` percent of the window's samples fall
   * (the upper edge of their bucket, so at most 10 % high), or -1 while the
   * window holds fewer than `minSamples`.
   */
  percentile(p: number): number {
    const now = this.#now();
    if (p === this.#cachedP && now - this.#cachedAt < this.#refreshMs) return this.#cachedValue;
    this.#rotate(now);
    const total = this.#currentCount + this.#previousCount;
    let value = -1;
    if (total >= this.#minSamples && total > 0) {
      const target = Math.ceil((p / 100) * total);
      let seen = 0;
      for (let i = 0; i < BUCKETS; i++) {
        seen += this.#current[i] + this.#previous[i];
        if (seen >= target) {
          value = MIN_MS * GROWTH ** (i + 1);
          break;
        }
      }
    }
    this.#cachedP = p;
    this.#cachedValue = value;
    this.#cachedAt = now;
    return value;
  }

  #rotate(now: number): void {
    const elapsed = now - this.#halfStart;
    if (elapsed < this.#halfWindowMs) return;
    if (elapsed >= 2 * this.#halfWindowMs) {
      // Idle for a whole window: everything recorded is stale.
      this.#previous.fill(0);
      this.#previousCount = 0;
      this.#current.fill(0);
      this.#currentCount = 0;
    } else {
      const old = this.#previous;
      this.#previous = this.#current;
      this.#previousCount = this.#currentCount;
      old.fill(0);
      this.#current = old;
      this.#currentCount = 0;
    }
    this.#halfStart = now - (elapsed % this.#halfWindowMs);
  }
}
