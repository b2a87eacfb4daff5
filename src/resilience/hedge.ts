/**
 * Request hedging for one route: when the first attempt has not answered
 * after a delay — fixed, or a latency percentile of the backend — the call
 * sends a copy to another endpoint and takes whichever answers first. Only
 * idempotent requests are hedged, and every hedge is paid for from the
 * route's retry budget, so hedging adds at most the budget's share of load
 * even when a whole backend is slow.
 *
 * {@link HedgePolicy} decides and {@link HedgeTimer} keeps the timing of one
 * call; the call itself sends the copies (see docs/resilience.md, "Hedging"):
 * start the timer when the first attempt starts; each time it fires, send a
 * copy to an endpoint not in use; stop it at the first response. The first
 * response that is not retried wins; the other attempts are aborted and
 * reported to no policy (they were cancelled, not failed).
 */
import { IDEMPOTENT_METHODS, type HedgePolicyModel } from '../model/types.ts';
import type { RetryBudget } from '../policy/retry-budget.ts';
import type { LatencyHistogram } from './latency-histogram.ts';

/** Returned by {@link HedgePolicy.delayMs} when this request must not be hedged. */
export const NO_HEDGE = -1;

export interface HedgeCounters {
  /** Hedged copies sent. */
  hedges: number;
  /** Hedges due but refused by the retry budget. */
  budgetExhausted: number;
  /** Requests not hedged because the percentile had too few samples yet. */
  noEstimate: number;
}

export interface HedgeSnapshot {
  readonly name: string;
  /** Current hedge delay in ms for an idempotent request; -1 while unknown. */
  readonly delayMs: number;
  readonly counters: Readonly<HedgeCounters>;
}

export class HedgePolicy {
  readonly name: string;
  readonly model: HedgePolicyModel;
  readonly counters: HedgeCounters = { hedges: 0, budgetExhausted: 0, noEstimate: 0 };
  readonly #histogram: LatencyHistogram | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #methods: ReadonlySet<string>;
  /** `*`: every method. */
  readonly #anyMethod: boolean;

  /**
   * @param histogram the backend's recent latencies; required for `percentile` hedging.
   * @param budget the route's retry budget; every hedge takes a retry from it.
   * @param methods methods safe to send twice (upper-case, `*` for all). Default: the idempotent ones.
   */
  constructor(name: string, model: HedgePolicyModel, histogram: LatencyHistogram | undefined, budget: RetryBudget | undefined, methods: readonly string[] = IDEMPOTENT_METHODS) {
    this.name = name;
    this.model = model;
    this.#histogram = histogram;
    this.#budget = budget;
    this.#methods = new Set(methods);
    this.#anyMethod = this.#methods.has('*');
  }

  /**
   * Ms to wait after an attempt starts before sending the next copy, or
   * {@link NO_HEDGE}: not idempotent, `maxAttempts` below 2, or (percentile
   * mode) not enough latency samples yet.
   */
  delayMs(method: string): number {
    const m = this.model;
    if (m.maxAttempts < 2 || !(this.#anyMethod || this.#methods.has(method))) return NO_HEDGE;
    if (m.percentile === undefined) return m.delayMs;
    const p = this.#histogram === undefined ? -1 : this.#histogram.percentile(m.percentile);
    if (p < 0) {
      this.counters.noEstimate++;
      return NO_HEDGE;
    }
    return p > m.delayMs ? p : m.delayMs;
  }

  /**
   * The hedge timer fired with no response yet and `inFlight` attempts
   * running: true when a copy may be sent now (it is then counted against
   * the retry budget).
   */
  tryHedge(inFlight: number): boolean {
    if (inFlight >= this.model.maxAttempts) return false;
    if (this.#budget !== undefined && !this.#budget.tryAcquireRetry()) {
      this.counters.budgetExhausted++;
      return false;
    }
    this.counters.hedges++;
    return true;
  }

  snapshot(): HedgeSnapshot {
    const m = this.model;
    const p = m.percentile === undefined || this.#histogram === undefined ? m.delayMs : this.#histogram.percentile(m.percentile);
    return { name: this.name, delayMs: p < 0 ? -1 : Math.max(p, m.delayMs), counters: { ...this.counters } };
  }
}

/**
 * The hedging clock of one call: after each hedge delay with no response,
 * asks the policy and, if allowed, calls `send` for one more copy, until
 * `maxAttempts` copies are in flight or {@link stop} is called. One object
 * and one timer per hedged call; calls on routes without hedging need none.
 */
export class HedgeTimer {
  readonly #policy: HedgePolicy;
  readonly #send: () => boolean;
  readonly #inFlight: () => number;
  #delay = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #fire = (): void => {
    this.#timer = undefined;
    if (this.#stopped) return;
    const inFlight = this.#inFlight();
    if (!this.#policy.tryHedge(inFlight)) return;
    // A copy that could not be sent (no other endpoint) ends hedging for this call.
    if (this.#send() && inFlight + 1 < this.#policy.model.maxAttempts) this.#arm();
  };

  /**
   * @param send sends one copy to an endpoint not in use; false when none could be sent.
   * @param inFlight attempts of the call running now.
   */
  constructor(policy: HedgePolicy, send: () => boolean, inFlight: () => number) {
    this.#policy = policy;
    this.#send = send;
    this.#inFlight = inFlight;
  }

  /** Arms the first hedge when the first attempt starts; false when this request is not hedged. */
  start(method: string): boolean {
    const d = this.#policy.delayMs(method);
    if (d < 0) return false;
    this.#delay = d;
    this.#arm();
    return true;
  }

  /** A response arrived (or the call ended): no more copies. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = setTimeout(this.#fire, this.#delay);
    this.#timer.unref();
  }
}
