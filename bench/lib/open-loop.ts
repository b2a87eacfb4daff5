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

/**
 * Open loop for several sides at once, each at `rate` requests per second:
 * side i's requests are scheduled at start + k·interval + i·interval/n, so
 * the sides take turns within every interval and all of them are measured
 * under the same moment-to-moment conditions (a noisy machine drifts by tens
 * of microseconds between rounds run one after another). Latency is measured
 * from each request's scheduled time. setImmediate, not a timer, drives the
 * schedule: a timer's 1 ms granularity would add its own jitter.
 */
export function openLoopStaggered(rate: number, durationMs: number, sends: readonly Send[]): Promise<OpenLoopResult[]> {
  const perSide = Math.max(1, Math.round((rate * durationMs) / 1000));
  const sides = sends.length;
  const n = perSide * sides;
  const step = 1000 / rate / sides;
  const lat = sends.map(() => new Float64Array(perSide));
  const ok = sends.map(() => 0);
  const errors = sends.map(() => 0);
  let sent = 0;
  let done = 0;
  const start = performance.now() + 2;
  return new Promise((resolve) => {
    const finish = (): void => {
      if (++done === n) resolve(lat.map((l, i) => ({ latenciesUs: l.slice(0, ok[i]!), errors: errors[i]! })));
    };
    const tick = (): void => {
      const now = performance.now();
      while (sent < n && start + sent * step <= now) {
        const scheduled = start + sent * step;
        const side = sent % sides;
        sent++;
        sends[side]!().then(
          () => {
            lat[side]![ok[side]!++] = (performance.now() - scheduled) * 1000;
            finish();
          },
          () => {
            errors[side]!++;
            finish();
          },
        );
      }
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
