/**
 * Fault injection for one route (or, inbound, one service): delay a share of
 * the requests, abort a share with a configured status, optionally only for
 * requests carrying a header, and never more than `maxActive` faulted
 * requests at once (so a test fault cannot take a whole service down with
 * it). Works the same outbound (before the first attempt) and inbound
 * (before the application's handler).
 *
 * The decision is a bit set (no allocation): delay first, then abort, as Envoy
 * applies them. A request that got a fault holds an active-fault slot until
 * the caller calls {@link FaultInjector.release}.
 */
import type { FaultPolicyModel } from '../model/types.ts';

/** No fault for this request. */
export const FAULT_NONE = 0;
/** Wait {@link FaultInjector.delayMs} before going on (flag DI). */
export const FAULT_DELAY = 1;
/** Answer {@link FaultInjector.abortStatus} instead of forwarding (flag FI). */
export const FAULT_ABORT = 2;

export interface FaultCounters {
  delays: number;
  aborts: number;
  /** Requests that would have been faulted but maxActive faults were already in progress. */
  overflow: number;
}

export interface FaultSnapshot {
  readonly name: string;
  readonly active: number;
  readonly maxActive: number;
  readonly counters: Readonly<FaultCounters>;
}

/** Just what fault injection reads from a request. */
export interface FaultRequest {
  header(name: string): string | undefined;
}

export class FaultInjector {
  readonly name: string;
  readonly counters: FaultCounters = { delays: 0, aborts: 0, overflow: 0 };
  readonly delayMs: number;
  readonly abortStatus: number;
  readonly #delayPercent: number;
  readonly #abortPercent: number;
  readonly #header: string | undefined;
  readonly #maxActive: number;
  readonly #random: () => number;
  #active = 0;

  /** `random` returns [0, 1) like Math.random; inject a seeded one in tests. */
  constructor(name: string, policy: FaultPolicyModel, random: () => number = Math.random) {
    this.name = name;
    this.delayMs = policy.delay?.durationMs ?? 0;
    this.abortStatus = policy.abort?.status ?? 0;
    this.#delayPercent = policy.delay?.percent ?? 0;
    this.#abortPercent = policy.abort?.percent ?? 0;
    this.#header = policy.header;
    this.#maxActive = policy.maxActive ?? Infinity;
    this.#random = random;
  }

  get active(): number {
    return this.#active;
  }

  /**
   * FAULT_NONE, or FAULT_DELAY and/or FAULT_ABORT. Any result but FAULT_NONE
   * holds an active-fault slot: call {@link release} once the request is over.
   */
  decide(req: FaultRequest): number {
    if (this.#header !== undefined && req.header(this.#header) === undefined) return FAULT_NONE;
    let fault = FAULT_NONE;
    // Each draw is independent, so both percentages hold on their own.
    if (this.#delayPercent > 0 && this.#random() * 100 < this.#delayPercent) fault |= FAULT_DELAY;
    if (this.#abortPercent > 0 && this.#random() * 100 < this.#abortPercent) fault |= FAULT_ABORT;
    if (fault === FAULT_NONE) return FAULT_NONE;
    if (this.#active >= this.#maxActive) {
      this.counters.overflow++;
      return FAULT_NONE;
    }
    this.#active++;
    if ((fault & FAULT_DELAY) !== 0) this.counters.delays++;
    if ((fault & FAULT_ABORT) !== 0) this.counters.aborts++;
    return fault;
  }

  /** A faulted request is over (answered, aborted, or forwarded after its delay and finished). */
  release(): void {
    if (this.#active > 0) this.#active--;
  }

  snapshot(): FaultSnapshot {
    return { name: this.name, active: this.#active, maxActive: this.#maxActive, counters: { ...this.counters } };
  }
}
