/**
 * A token bucket: `burst` tokens at most, refilled continuously at `rate` per
 * second. Plain numbers refilled lazily from the clock on each use: no timer,
 * no allocation, a few arithmetic operations per request.
 *
 * bottleneck was measured for this job and refused (docs/resilience.md): its
 * every call goes through promises and `setTimeout(0)` hops (milliseconds of
 * added latency, under a thousand decisions per second per limiter), it has
 * no synchronous check, and its reservoir refills in steps on a 250 ms
 * heartbeat, which made a 100 rps limit admit 17 requests in 2 s.
 */
export class TokenBucket {
  readonly requestsPerSecond: number;
  readonly burst: number;
  /** Tokens at `stamp` (fractional). */
  tokens: number;
  /** Clock time (ms) of the last refill. */
  stamp: number;
  readonly #perMs: number;

  constructor(requestsPerSecond: number, burst: number, now: number) {
    this.requestsPerSecond = requestsPerSecond;
    this.burst = burst;
    this.#perMs = requestsPerSecond / 1000;
    this.tokens = burst;
    this.stamp = now;
  }

  /** Adds the tokens earned since the last refill; returns the tokens now held. */
  refill(now: number): number {
    if (now > this.stamp) {
      const t = this.tokens + (now - this.stamp) * this.#perMs;
      this.tokens = t < this.burst ? t : this.burst;
      this.stamp = now;
    }
    return this.tokens;
  }

  /** Ms until a whole token is held (0 when one is), as of the last refill. */
  waitMs(): number {
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.#perMs);
  }

  /** Takes a token: 0 when taken, else the ms until one will be there (nothing taken). */
  take(now: number): number {
    if (this.refill(now) >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return this.waitMs();
  }

  /** True when the bucket is full as of `now`: it is then indistinguishable from a new one. */
  isFull(now: number): boolean {
    return this.refill(now) >= this.burst;
  }
}
