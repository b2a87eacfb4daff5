/**
 * Open-loop load: requests are sent on a fixed schedule whatever the answers
 * do, and each latency is measured from its *scheduled* send time, so a slow
 * answer cannot hide the requests queued behind it (no coordinated omission).
 */
import type { Send } from './interleave.ts';

export interface OpenLoopResult {
  /** Latencies in microseconds, one per request that succeeded. */
  readonly latenciesUs: Float64Array;
  readonly errors: number;
}

/** Sends `rate` requests per second for `durationMs`; resolves when every request has ended. */
export function openLoop(rate: number, durationMs: number, send: Send): Promise<OpenLoopResult> {
  const n = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const lat = new Float64Array(n);
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let done = 0;
  const start = performance.now() + 2;
  return new Promise((resolve) => {
    const finish = (): void => {
      if (++done === n) resolve({ latenciesUs: lat.slice(0, ok), errors });
    };
    const tick = (): void => {
      const now = performance.now();
      while (sent < n && start + sent * interval <= now) {
        const scheduled = start + sent * interval;
        sent++;
        send().then(
          () => {
            lat[ok++] = (performance.now() - scheduled) * 1000;
            finish();
          },
          () => {
            errors++;
            finish();
          },
        );
      }
      // setImmediate rather than a timer: a timer's 1 ms granularity would add its own jitter.
      if (sent < n) setImmediate(tick);
    };
    setImmediate(tick);
  });
}

/** The q-quantile (0..1) of the values (sorted copy, nearest rank). */
export function quantile(values: Float64Array | readonly number[], q: number): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}

/** Concatenates per-round latency arrays. */
export function concat(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
