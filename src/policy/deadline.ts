/**
 * Deadline propagation. An inbound request may carry the time its caller is
 * still willing to wait; enmesh keeps it in an AsyncLocalStorage scope for the
 * request's handler, shortens every outbound call's timeout to it, and passes
 * what is left on to the next hop. A chain of services then stops working on
 * a request as soon as the original caller has given up.
 *
 * Times are `performance.now()` milliseconds (monotonic, process-local). The
 * header carries *remaining* milliseconds, not an absolute time, so clock skew
 * between hosts does not matter; the network transfer time is not subtracted,
 * which errs on the side of waiting slightly too long.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Header carrying the caller's remaining time in whole milliseconds. */
export const TIMEOUT_HEADER = 'x-enmesh-timeout-ms';

/** Largest deadline accepted from a caller: a bigger value is capped to this. */
export const MAX_INBOUND_TIMEOUT_MS = 300_000;

/** Per-request state that follows the request's handler through async calls. */
export interface RequestScope {
  /** Absolute `performance.now()` time by which the answer is needed; Infinity when none. */
  deadline: number;
  /** The inbound request's peer address: ring-hash on `sourceIp` keys outbound calls by it. */
  sourceIp?: string | undefined;
}

export const deadlineStorage = new AsyncLocalStorage<RequestScope>();

/**
 * The scope for an inbound request from its {@link TIMEOUT_HEADER} value. A
 * missing or malformed value (not a plain non-negative integer) means no
 * deadline; a value above `maxMs` is capped. `now` is `performance.now()`.
 */
export function scopeFromInboundHeader(value: string | undefined, now: number, maxMs = MAX_INBOUND_TIMEOUT_MS): RequestScope {
  const ms = value === undefined ? -1 : parseMillis(value);
  if (ms < 0) return { deadline: Infinity };
  return { deadline: now + (ms < maxMs ? ms : maxMs) };
}

/** The current request's deadline; Infinity outside a request scope or when it has none. */
export function currentDeadline(): number {
  const scope = deadlineStorage.getStore();
  return scope === undefined ? Infinity : scope.deadline;
}

/**
 * Runs `fn` with a deadline that is the earlier of `deadline` and the current
 * one: a nested scope can shorten the time left, never extend it.
 */
export function runWithDeadline<T>(deadline: number, fn: () => T): T {
  const scope = deadlineStorage.getStore();
  const outer = scope === undefined ? Infinity : scope.deadline;
  return deadlineStorage.run({ deadline: deadline < outer ? deadline : outer, sourceIp: scope?.sourceIp }, fn);
}

/** True when the current request's deadline has passed: don't start an outbound call. */
export function deadlineExpired(now: number): boolean {
  return currentDeadline() <= now;
}

/**
 * The timeout for an outbound call: the route's timeout (0 = none), shortened
 * to the current request's remaining deadline. `fromDeadline` tells which one
 * won, to pick the error (`ENMESH_ERR_DEADLINE_EXCEEDED` vs `ENMESH_ERR_TIMEOUT`).
 *
 * `timeoutMs` 0 means no timeout, as in the model. When the deadline decides,
 * `timeoutMs` is at least 1 even if the deadline has already passed, so a
 * caller that forgets {@link deadlineExpired} still fails fast instead of
 * waiting forever.
 */
export function effectiveTimeout(routeTimeoutMs: number, now: number): { timeoutMs: number; fromDeadline: boolean } {
  const deadline = currentDeadline();
  if (deadline === Infinity) return { timeoutMs: routeTimeoutMs > 0 ? routeTimeoutMs : 0, fromDeadline: false };
  const remaining = Math.ceil(deadline - now);
  if (routeTimeoutMs > 0 && routeTimeoutMs <= remaining) return { timeoutMs: routeTimeoutMs, fromDeadline: false };
  return { timeoutMs: remaining > 1 ? remaining : 1, fromDeadline: true };
}

/**
 * The {@link TIMEOUT_HEADER} value for an outbound attempt whose answer is
 * needed by `deadline` (pass the earliest of the inbound deadline, the total
 * timeout and the per-try timeout); undefined when there is no deadline. A
 * passed deadline gives `0`, which the next hop treats as already expired.
 */
export function outboundTimeoutHeader(deadline: number, now: number): string | undefined {
  if (deadline === Infinity) return undefined;
  const remaining = Math.floor(deadline - now);
  return remaining > 0 ? String(remaining) : '0';
}

/** A plain non-negative integer (surrounding spaces allowed), or -1. Past 15 digits it is just "very large". */
function parseMillis(value: string): number {
  let start = 0;
  let end = value.length;
  while (start < end && value.charCodeAt(start) === 32) start++;
  while (end > start && value.charCodeAt(end - 1) === 32) end--;
  if (end === start) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return end - start > 15 ? Number.MAX_SAFE_INTEGER : n;
}
