import type { EndpointFeedback, EndpointState } from './types.ts';

/** Peak-EWMA decay time constant: Finagle's and Linkerd's default. */
export const DEFAULT_EWMA_DECAY_MS = 10_000;

/**
 * A sample of exactly 0 would read as "never measured" (`ewmaMs === 0`), so
 * measured latencies are floored at one microsecond.
 */
const MIN_SAMPLE_MS = 0.001;

/**
 * Peak EWMA (Finagle's PeakEwma, Linkerd's peak-EWMA load). The estimate is a
 * decaying envelope of recent latencies:
 * - between responses it decays towards zero with time constant `decayMs`,
 *   so an endpoint shunned for being slow is eventually tried again;
 * - a sample above the (decayed) estimate replaces it at once, so a slowing
 *   endpoint is shunned immediately;
 * - a lower sample is blended in with weight 1 - e^(-elapsed/decayMs), so
 *   recovery is trusted only over time.
 * Finagle and Linkerd get the decay by folding in a zero sample whenever the
 * balancer reads the cost, which ties the estimate to how often it is read;
 * here it is a pure function of time.
 * A failed attempt may raise the estimate but never pulls it down: fast
 * failures must not make a broken endpoint look attractive.
 */
export function observeLatency(ep: EndpointState, latencyMs: number, ok: boolean, now: number, decayMs: number): void {
  const sample = latencyMs > MIN_SAMPLE_MS ? latencyMs : MIN_SAMPLE_MS;
  const elapsed = now > ep.ewmaStamp ? now - ep.ewmaStamp : 0;
  const keep = Math.exp(-elapsed / decayMs);
  const decayed = ep.ewmaMs * keep;
  if (ep.ewmaMs === 0 || sample > decayed) ep.ewmaMs = sample;
  else ep.ewmaMs = ok ? decayed * keep + sample * (1 - keep) : decayed;
  ep.ewmaStamp = now;
}

/** The estimate as of `now`: what {@link observeLatency} would start from. */
export function decayedEwma(ep: EndpointState, now: number, decayMs: number): number {
  const elapsed = now - ep.ewmaStamp;
  return elapsed > 0 ? ep.ewmaMs * Math.exp(-elapsed / decayMs) : ep.ewmaMs;
}

export interface FeedbackOptions {
  /** Monotonic clock in ms. Default `performance.now`; share it with the peak-EWMA balancer. */
  readonly now?: () => number;
  /** Default {@link DEFAULT_EWMA_DECAY_MS}. */
  readonly decayMs?: number;
}

/**
 * Keeps `active` and the latency estimate of each endpoint up to date. One
 * instance serves every balancer: the state lives on the endpoints.
 */
export function createEndpointFeedback(opts: FeedbackOptions = {}): EndpointFeedback {
  const now = opts.now ?? (() => performance.now());
  const decayMs = opts.decayMs ?? DEFAULT_EWMA_DECAY_MS;
  return {
    onStart(ep) {
      ep.active++;
    },
    onEnd(ep, latencyMs, ok, at) {
      if (ep.active > 0) ep.active--;
      observeLatency(ep, latencyMs, ok, at ?? now(), decayMs);
    },
  };
}
