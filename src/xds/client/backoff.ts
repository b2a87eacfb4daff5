/**
 * Reconnect delays following gRPC's connection-backoff rules
 * (doc/connection-backoff.md in grpc/grpc): the first wait is `initialMs`, each
 * further one is `multiplier` times the last, capped at `maxMs`, and every wait
 * is spread by ±`jitter` so that many clients losing the same control plane do
 * not come back in lock step.
 */

export interface BackoffOptions {
  /** First delay. Default 1000 ms. */
  readonly initialMs?: number;
  /** Growth factor between attempts. Default 1.6. */
  readonly multiplier?: number;
  /** Relative spread, 0.2 = ±20 %. Default 0.2. */
  readonly jitter?: number;
  /**
   * Cap for the un-jittered delay. Default 4 000 ms, not gRPC's 120 s: the
   * control plane is one small, critical dependency, and after it restarts a
   * client should be back (and its instance registered again) within seconds.
   * Attempts against a down control plane cost a refused connection each.
   */
  readonly maxMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = Object.freeze({
  initialMs: 1000,
  multiplier: 1.6,
  jitter: 0.2,
  maxMs: 4_000,
});

export class Backoff {
  readonly #initialMs: number;
  readonly #multiplier: number;
  readonly #jitter: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #current: number;

  /** `random` returns a number in [0, 1), like Math.random (injectable for tests). */
  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.#initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    this.#multiplier = options.multiplier ?? DEFAULT_BACKOFF.multiplier;
    this.#jitter = options.jitter ?? DEFAULT_BACKOFF.jitter;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.#random = random;
    this.#current = this.#initialMs;
  }

  /** The delay before the next attempt; advances the schedule. */
  next(): number {
    const base = this.#current;
    this.#current = Math.min(base * this.#multiplier, this.#maxMs);
    // Uniform in [base·(1-jitter), base·(1+jitter)).
    const spread = base * this.#jitter * (this.#random() * 2 - 1);
    return Math.max(0, Math.round(base + spread));
  }

  /** Back to the first delay: called once a stream proved healthy. */
  reset(): void {
    this.#current = this.#initialMs;
  }
}
