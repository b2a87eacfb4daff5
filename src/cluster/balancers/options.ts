/** Knobs shared by the balancers; all optional. */
export interface BalancerOptions {
  /** Uniform random in [0, 1). Default `Math.random`; tests pass a seeded generator. */
  readonly random?: () => number;
  /** Monotonic clock in ms (peak-EWMA). Default `performance.now`. Must match the feedback's clock. */
  readonly now?: () => number;
  /** Peak-EWMA decay time constant in ms. Default 10 s, as Finagle and Linkerd. */
  readonly decayMs?: number;
  /** Ring-hash: fewest points on the ring, for an even spread over few endpoints. Default 1024. */
  readonly minRingSize?: number;
}
