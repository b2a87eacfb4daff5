/**
 * Timers for per-try and total timeouts, and the errors they raise.
 *
 * One `setTimeout` per attempt is cheap enough for the request path: Node
 * keeps timers of equal duration in one list behind a single libuv timer, so
 * starting one is an append and cancelling it an unlink, both O(1). Timers
 * are unref'd: a pending timeout must never keep the process alive by itself
 * (the request's socket does that while the request is in flight), and unref
 * costs nothing more than a counter in current Node versions.
 */
import { EnmeshError } from '../errors.ts';

export type AttemptTimer = ReturnType<typeof setTimeout>;

/** Node's largest delay; beyond it setTimeout fires after 1 ms instead. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `onFire` once after `ms` milliseconds unless cancelled. A timeout of
 * 0 (or negative, NaN, Infinity) means "none", as in the model: no timer is
 * started and undefined is returned.
 */
export function startTimer(ms: number, onFire: () => void): AttemptTimer | undefined {
  if (!(ms > 0) || ms === Infinity) return undefined;
  const timer = setTimeout(onFire, ms < MAX_TIMER_MS ? ms : MAX_TIMER_MS);
  timer.unref();
  return timer;
}

/** Cancels a timer from {@link startTimer}; safe on undefined and on timers that already fired. */
export function cancelTimer(timer: AttemptTimer | undefined): void {
  if (timer !== undefined) clearTimeout(timer);
}

/** The route's total timeout (across all tries and backoffs) ran out. */
export function totalTimeoutError(route: string, timeoutMs: number): EnmeshError {
  return new EnmeshError(
    'ENMESH_ERR_TIMEOUT',
    `route "${route}" timed out after ${timeoutMs} ms (its total timeout across all tries); raise the route's timeout or find why the upstream is slow`,
  );
}

/** One attempt ran past the retry policy's per-try timeout. */
export function perTryTimeoutError(route: string, perTryTimeoutMs: number): EnmeshError {
  return new EnmeshError(
    'ENMESH_ERR_PER_TRY_TIMEOUT',
    `an attempt on route "${route}" exceeded its per-try timeout of ${perTryTimeoutMs} ms; it is retried if the retry policy allows`,
  );
}

/** The inbound request's deadline (propagated by the caller) ran out before the outbound call finished. */
export function deadlineExceededError(route: string, remainingMs: number): EnmeshError {
  return new EnmeshError(
    'ENMESH_ERR_DEADLINE_EXCEEDED',
    `the caller's deadline (${remainingMs} ms left when the call on route "${route}" started) ran out before the upstream answered`,
  );
}
