import { backoffDelay, parseRetryAfter } from './backoff.ts';
import type { RetryBudget } from './retry-budget.ts';
import {
  type CompiledRetryPolicy,
  classifyError,
  isRetriableErrorClass,
  isRetriableGrpcStatus,
  isRetriableMethod,
  isRetriableStatus,
} from './retry-classifier.ts';

/** Returned by the `decide*` methods when the request must not be retried; see {@link RetryState.lastReason}. */
export const NO_RETRY = -1;

/**
 * Why the last decision was not to retry:
 * - `disabled`: no retry policy, or `attempts: 0`;
 * - `method`: the method is not in the policy's retriable methods (POST by default);
 * - `not-retriable`: the outcome matches no retry condition (a 2xx, a 404, an unknown error);
 * - `attempts-exhausted`: every allowed retry was used;
 * - `budget-exhausted`: the retry budget refused;
 * - `deadline`: the backoff would outlast the remaining total timeout;
 * - `pushback`: a gRPC server asked not to retry (`grpc-retry-pushback-ms` malformed or negative).
 */
export type NoRetryReason = 'disabled' | 'method' | 'not-retriable' | 'attempts-exhausted' | 'budget-exhausted' | 'deadline' | 'pushback';

/**
 * The retry loop of one request, written once for every transport. The
 * adapter runs an attempt, then asks `decideAfterStatus` / `decideAfterError`
 * / `decideAfterGrpcStatus`: a result >= 0 is the delay in ms before the next
 * attempt; {@link NO_RETRY} (-1) means deliver this outcome, with the reason
 * in {@link lastReason}. Plain numbers keep the per-attempt path free of
 * allocations.
 *
 * The checks run in this order: method, condition, attempts left, time left,
 * then the budget. The condition comes before the attempt count so that
 * `lastReason` says `attempts-exhausted` only when the outcome was retriable
 * (that is what the URX flag means); the budget comes last so it is only spent
 * on retries that will really be sent.
 *
 * The caller counts the request on the budget (`budget.recordRequest()`) once,
 * when the request starts, whether or not it will be retried.
 */
export class RetryState {
  readonly policy: CompiledRetryPolicy | undefined;
  readonly budget: RetryBudget | undefined;
  /** Retries granted so far (0 during the first attempt). */
  retries = 0;
  /** Why the last decision was not to retry; undefined after a decision to retry. */
  lastReason: NoRetryReason | undefined = undefined;

  readonly #methodAllowed: boolean;
  readonly #random: () => number;

  /**
   * @param method upper-case request method (`POST` for gRPC; gRPC calls are
   *   made retriable by the policy's methods, e.g. `*`).
   * @param random jitter source in [0, 1), `Math.random` by default.
   */
  constructor(policy: CompiledRetryPolicy | undefined, budget: RetryBudget | undefined, method: string, random: () => number = Math.random) {
    this.policy = policy;
    this.budget = budget;
    this.#methodAllowed = policy !== undefined && isRetriableMethod(policy, method);
    this.#random = random;
  }

  /** The policy's per-try timeout in ms; 0 when none. */
  get perTryTimeoutMs(): number {
    return this.policy?.perTryTimeoutMs ?? 0;
  }

  /**
   * Set when the request wanted another retry but had none left (attempts or
   * budget): adapters then mark the response with the URX flag.
   */
  get exhaustedReason(): 'attempts-exhausted' | 'budget-exhausted' | undefined {
    const r = this.lastReason;
    return r === 'attempts-exhausted' || r === 'budget-exhausted' ? r : undefined;
  }

  /**
   * After a response with this status arrived (before its body is forwarded).
   * `retryAfter` is the response's `Retry-After` header: the delay is the larger
   * of the backoff and that hint. `remainingMs` is what is left of the total
   * timeout (Infinity when none).
   */
  decideAfterStatus(status: number, retryAfter: string | undefined, remainingMs = Infinity): number {
    const policy = this.#precheck();
    if (policy === undefined) return NO_RETRY;
    if (!isRetriableStatus(policy, status)) return this.#no('not-retriable');
    const hint = retryAfter === undefined ? undefined : parseRetryAfter(retryAfter, Date.now());
    return this.#grant(policy, hint ?? 0, remainingMs);
  }

  /** After an attempt failed with an error (connect failure, reset, per-try timeout, ...). */
  decideAfterError(err: unknown, remainingMs = Infinity): number {
    const cls = classifyError(err);
    // A request that never reached the server (no connection, or a stream the server refused
    // unprocessed) is safe to send again whatever its method.
    const policy = this.#precheck(cls === 'connect-failure' || cls === 'refused-stream');
    if (policy === undefined) return NO_RETRY;
    if (!isRetriableErrorClass(policy, cls)) return this.#no('not-retriable');
    return this.#grant(policy, 0, remainingMs);
  }

  /**
   * After a gRPC call ended with this status code. `pushback` is the
   * `grpc-retry-pushback-ms` trailer: a valid value replaces the backoff, a
   * malformed or negative one means "do not retry" (gRFC A6).
   */
  decideAfterGrpcStatus(code: number, pushback: string | undefined, remainingMs = Infinity): number {
    const policy = this.#precheck();
    if (policy === undefined) return NO_RETRY;
    if (!isRetriableGrpcStatus(policy, code)) return this.#no('not-retriable');
    if (pushback === undefined) return this.#grant(policy, 0, remainingMs);
    const ms = /^\d{1,9}$/.test(pushback) ? Number(pushback) : -1;
    if (ms < 0) return this.#no('pushback');
    return this.#grant(policy, ms, remainingMs, true);
  }

  /** The checks that don't depend on the outcome: a policy with retries, and the method. */
  #precheck(anyMethod = false): CompiledRetryPolicy | undefined {
    const policy = this.policy;
    if (policy === undefined || policy.attempts === 0) {
      this.lastReason = 'disabled';
      return undefined;
    }
    if (!this.#methodAllowed && !anyMethod) {
      this.lastReason = 'method';
      return undefined;
    }
    return policy;
  }

  /** Condition met: checks attempts left, computes the delay, then checks time and budget. */
  #grant(policy: CompiledRetryPolicy, hintMs: number, remainingMs: number, replaceBackoff = false): number {
    if (this.retries >= policy.attempts) return this.#no('attempts-exhausted');
    let delay = replaceBackoff ? hintMs : backoffDelay(this.retries, policy.backoffBaseMs, policy.backoffMaxMs, this.#random);
    if (hintMs > delay) delay = hintMs;
    // Sleeping past the total timeout would only turn this outcome into a timeout: deliver it now.
    if (delay >= remainingMs) return this.#no('deadline');
    if (this.budget !== undefined && !this.budget.tryAcquireRetry()) return this.#no('budget-exhausted');
    this.retries++;
    this.lastReason = undefined;
    return delay;
  }

  #no(reason: NoRetryReason): number {
    this.lastReason = reason;
    return NO_RETRY;
  }
}
