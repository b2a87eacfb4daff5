import type { RetryBudgetModel } from '../model/types.ts';

/** A monotonic clock in milliseconds. */
export type Clock = () => number;

const monotonicNow: Clock = () => performance.now();

/** Seconds of history the budget looks at. */
export const BUDGET_WINDOW_SECONDS = 10;

/**
 * Caps retries to a share of recent traffic, so that a failing backend sees
 * at most a bounded amplification instead of every client multiplying its load
 * by `attempts + 1` (a retry storm).
 *
 * Over a sliding window of {@link BUDGET_WINDOW_SECONDS} one-second buckets it
 * counts requests and retries. A retry is allowed while
 *
 *     retries in window < max(minPerSecond × window seconds, percent / 100 × requests in window)
 *
 * The floor is a `max`, not a sum: at low traffic a few retries are always
 * allowed, and above `minPerSecond / (percent / 100)` requests per second the
 * percentage alone decides, so upstream attempts stay within
 * (1 + percent / 100) × the offered load even when every attempt fails.
 *
 * Count each logical request once ({@link recordRequest}), not each attempt:
 * counting retries as requests would let retries raise their own allowance.
 * One budget is shared by every request it should limit (for example, all
 * requests of one route); it is not per request.
 *
 * The buckets are preallocated ring buffers: no allocation per call.
 */
export class RetryBudget {
  readonly percent: number;
  readonly minPerSecond: number;
  /** Retries refused because the budget was spent; read by metrics. */
  exhausted = 0;

  readonly #now: Clock;
  readonly #requests = new Float64Array(BUDGET_WINDOW_SECONDS);
  readonly #retries = new Float64Array(BUDGET_WINDOW_SECONDS);
  /** Sums over the window, kept in step with the buckets. */
  #requestTotal = 0;
  #retryTotal = 0;
  /** The second (clock ms / 1000, floored) the newest bucket stands for. */
  #second: number;
  readonly #floor: number;
  readonly #ratio: number;

  constructor(model: RetryBudgetModel, now: Clock = monotonicNow) {
    this.percent = model.percent;
    this.minPerSecond = model.minPerSecond;
    this.#floor = Math.max(0, model.minPerSecond) * BUDGET_WINDOW_SECONDS;
    this.#ratio = Math.max(0, model.percent) / 100;
    this.#now = now;
    this.#second = Math.floor(now() / 1000);
  }

  /** Counts one logical request (its first attempt). */
  recordRequest(): void {
    const b = this.#advance();
    this.#requests[b]++;
    this.#requestTotal++;
  }

  /**
   * True when a retry may be sent now, and counts it; false (and counts an
   * exhaustion) when the budget is spent.
   */
  tryAcquireRetry(): boolean {
    const b = this.#advance();
    const byPercent = this.#ratio * this.#requestTotal;
    const allowed = byPercent > this.#floor ? byPercent : this.#floor;
    if (this.#retryTotal < allowed) {
      this.#retries[b]++;
      this.#retryTotal++;
      return true;
    }
    this.exhausted++;
    return false;
  }

  /** Requests counted in the current window. */
  get requestsInWindow(): number {
    this.#advance();
    return this.#requestTotal;
  }

  /** Retries counted in the current window. */
  get retriesInWindow(): number {
    this.#advance();
    return this.#retryTotal;
  }

  /** Moves the window to the current second, clearing expired buckets; returns the current bucket. */
  #advance(): number {
    const second = Math.floor(this.#now() / 1000);
    const gap = second - this.#second;
    // A clock that steps back (only possible with an injected clock) keeps the newest bucket.
    if (gap > 0) {
      if (gap >= BUDGET_WINDOW_SECONDS) {
        this.#requests.fill(0);
        this.#retries.fill(0);
        this.#requestTotal = 0;
        this.#retryTotal = 0;
      } else {
        for (let s = this.#second + 1; s <= second; s++) {
          const b = bucketOf(s);
          this.#requestTotal -= this.#requests[b];
          this.#retryTotal -= this.#retries[b];
          this.#requests[b] = 0;
          this.#retries[b] = 0;
        }
      }
      this.#second = second;
    }
    return bucketOf(this.#second);
  }
}

function bucketOf(second: number): number {
  const b = second % BUDGET_WINDOW_SECONDS;
  return b < 0 ? b + BUDGET_WINDOW_SECONDS : b;
}
