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
 * counts requests and retries. A retry is allowed while, counting it,
 *
 *     retries in window ≤ max(minPerSecond × seconds of history, percent / 100 × requests in window)
 *
 * Seconds of history count from the first second the budget saw traffic (1 in
 * that second), up to the window's length, and start again once the window has
 * been idle long enough to be empty. The buckets' seconds count from that
 * first traffic too, not from the clock's whole seconds. So the floor accrues
 * at `minPerSecond` per second as the percentage accrues with requests: a
 * storm on a cold route cannot spend ten seconds' worth of floor in its first
 * second, yet a quiet service still gets `minPerSecond` retries at once.
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
  /**
   * Clock ms at which the current stretch of traffic began: seconds count from
   * here, so the first second of a stretch is a whole second (see #advance).
   */
  #origin: number;
  /** The second (since #origin) the newest bucket stands for. */
  #second = 0;
  /** True while the window is empty: the next traffic starts a new stretch. */
  #idle = true;
  readonly #minPerSecond: number;
  readonly #ratio: number;

  constructor(model: RetryBudgetModel, now: Clock = monotonicNow) {
    this.percent = model.percent;
    this.minPerSecond = model.minPerSecond;
    this.#minPerSecond = Math.max(0, model.minPerSecond);
    this.#ratio = Math.max(0, model.percent) / 100;
    this.#now = now;
    this.#origin = now();
  }

  /** Counts one logical request (its first attempt). `now`: the caller's reading of this budget's clock, if it has one. */
  recordRequest(now?: number): void {
    const b = this.#advance(true, now);
    this.#requests[b]++;
    this.#requestTotal++;
  }

  /**
   * True when a retry may be sent now, and counts it; false (and counts an
   * exhaustion) when the budget is spent.
   */
  tryAcquireRetry(): boolean {
    const b = this.#advance(true);
    const history = this.#second + 1;
    const floor = this.#minPerSecond * (history < BUDGET_WINDOW_SECONDS ? history : BUDGET_WINDOW_SECONDS);
    const byPercent = this.#ratio * this.#requestTotal;
    const allowed = byPercent > floor ? byPercent : floor;
    // Within the allowance counting this retry: `<` would round a fractional allowance up.
    if (this.#retryTotal + 1 <= allowed) {
      this.#retries[b]++;
      this.#retryTotal++;
      return true;
    }
    this.exhausted++;
    return false;
  }

  /** Requests counted in the current window. */
  get requestsInWindow(): number {
    this.#advance(false);
    return this.#requestTotal;
  }

  /** Retries counted in the current window. */
  get retriesInWindow(): number {
    this.#advance(false);
    return this.#retryTotal;
  }

  /**
   * Moves the window to the current second, clearing expired buckets; returns the current bucket.
   * `traffic` starts a new stretch when the window is empty: the seconds are re-based on that
   * moment, so a storm's first bucket covers a whole second of its requests. Aligned to the
   * clock's seconds instead, a storm starting late in a second would get a whole second of floor
   * for a fraction of a second of requests, and those retries would free budget again when that
   * bucket leaves the window.
   */
  #advance(traffic: boolean, at?: number): number {
    const now = at ?? this.#now();
    if (this.#idle && traffic) {
      // Every bucket is zero while idle, so re-basing moves nothing.
      this.#idle = false;
      this.#origin = now;
      this.#second = 0;
      return 0;
    }
    const second = Math.floor((now - this.#origin) / 1000);
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
      // An empty window has no history left: the floor accrues again from the next traffic.
      if (this.#requestTotal === 0 && this.#retryTotal === 0) this.#idle = true;
    }
    return bucketOf(this.#second);
  }
}

function bucketOf(second: number): number {
  const b = second % BUDGET_WINDOW_SECONDS;
  return b < 0 ? b + BUDGET_WINDOW_SECONDS : b;
}
