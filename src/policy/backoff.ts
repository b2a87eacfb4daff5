/**
 * Retry delays: exponential backoff with full jitter, and the server's
 * `Retry-After` hint. Pure functions; the caller owns the clock and the
 * random source so tests are deterministic.
 */

/** Longest wait a `Retry-After` may ask for; a longer hint is clamped to this. */
export const MAX_RETRY_AFTER_MS = 30_000;

/**
 * Delay before retry number `retryIndex` (0 for the first retry): uniform in
 * [0, min(maxMs, baseMs * 2^retryIndex)].
 *
 * Full jitter spreads the retries of many clients that failed together over
 * the whole interval, instead of sending them back as a synchronized wave.
 * `random` returns a number in [0, 1), like `Math.random`.
 */
export function backoffDelay(retryIndex: number, baseMs: number, maxMs: number, random: () => number): number {
  if (!(baseMs > 0) || !(maxMs > 0)) return 0;
  // 2^i overflows to Infinity for large i; min() then picks maxMs, which is what we want.
  const exp = retryIndex > 0 ? baseMs * 2 ** retryIndex : baseMs;
  const cap = exp < maxMs ? exp : maxMs;
  return random() * cap;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// RFC 9110 §5.6.7: recipients must accept the preferred IMF-fixdate and the two obsolete forms.
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
const RFC850_DATE = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/;
const ASCTIME_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})$/;

/**
 * Milliseconds to wait according to a `Retry-After` header value: either
 * delta-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`,
 * compared with `nowMs`, a wall-clock time such as `Date.now()`).
 *
 * A date in the past gives 0. Anything longer than `maxMs` (default
 * {@link MAX_RETRY_AFTER_MS}) is clamped to it, so a misbehaving server can't
 * park a request for hours. Returns undefined for an absent or malformed value.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number, maxMs = MAX_RETRY_AFTER_MS): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v.length === 0) return undefined;
  const seconds = parseDigits(v);
  if (seconds >= 0) return clamp(seconds * 1000, maxMs);
  if (seconds === TOO_LONG) return maxMs;
  const at = parseHttpDate(v, nowMs);
  if (at === undefined) return undefined;
  return clamp(at - nowMs, maxMs);
}

const NOT_DIGITS = -1;
const TOO_LONG = -2;

/** Non-negative integer made only of ASCII digits, NOT_DIGITS otherwise, TOO_LONG past 15 digits. */
function parseDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NOT_DIGITS;
    n = n * 10 + c;
  }
  return s.length > 15 ? TOO_LONG : n;
}

function clamp(ms: number, maxMs: number): number {
  if (ms <= 0) return 0;
  return ms < maxMs ? ms : maxMs;
}

/** Epoch milliseconds of an HTTP-date, or undefined when it isn't one. */
function parseHttpDate(v: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(v);
  if (m !== null) return utc(+m[3], m[2], +m[1], +m[4], +m[5], +m[6]);
  m = RFC850_DATE.exec(v);
  if (m !== null) {
    // RFC 9110: a two-digit year that looks more than 50 years ahead is in the past century.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + +m[3];
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[2], +m[1], +m[4], +m[5], +m[6]);
  }
  m = ASCTIME_DATE.exec(v);
  if (m !== null) return utc(+m[6], m[1], +m[2].trim(), +m[3], +m[4], +m[5]);
  return undefined;
}

function utc(year: number, monthName: string, date: number, h: number, min: number, s: number): number | undefined {
  const month = MONTHS.indexOf(monthName);
  if (month < 0) return undefined;
  if (date < 1 || date > 31 || h > 23 || min > 59 || s > 60) return undefined;
  const dayMs = Date.UTC(year, month, date);
  // Date.UTC rolls 31 Feb over to March; reject instead of guessing.
  if (new Date(dayMs).getUTCDate() !== date) return undefined;
  return dayMs + ((h * 60 + min) * 60 + s) * 1000;
}
