/**
 * GC time of this process, per round: V8 reports each pause to a
 * PerformanceObserver. Rounds read it so a side's figure shows how much of its
 * CPU went to collection, and whether old-space (major) collections recurred.
 *
 * Why it is shown: in some processes V8's allocation-site pretenuring starts
 * placing short-lived per-request objects of undici in old space, and once it
 * does, everything they point to survives scavenges as well. Those processes
 * run with a major GC every few thousand requests and cost raw undici about
 * 6 µs more per request (docs/performance.md, "Two GC modes").
 */
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

export interface GcSample {
  /** Milliseconds of GC pauses. */
  readonly ms: number;
  /** Collections other than scavenges (mark-compact, incremental marking finalisation). */
  readonly major: number;
}

let ms = 0;
let major = 0;
let observer: PerformanceObserver | undefined;

function take(entries: readonly PerformanceEntry[]): void {
  for (const e of entries) {
    ms += e.duration;
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR || kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) major++;
  }
}

/** GC so far in this process (starts observing on first call). */
export function gcSoFar(): GcSample {
  if (observer === undefined) {
    observer = new PerformanceObserver((list) => take(list.getEntries()));
    observer.observe({ entryTypes: ['gc'] });
  }
  // Entries are delivered asynchronously: take what is pending so a round's GC is counted in it.
  take(observer.takeRecords());
  return { ms, major };
}

/** The GC between two samples. */
export function gcSince(before: GcSample): GcSample {
  const now = gcSoFar();
  return { ms: now.ms - before.ms, major: now.major - before.major };
}
