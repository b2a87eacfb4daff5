import { DEFAULT_EWMA_DECAY_MS, decayedEwma } from '../feedback.ts';
import type { Balancer, EndpointState } from '../types.ts';
import type { BalancerOptions } from './options.ts';
import { PowerOfTwoChoices } from './p2c.ts';

/**
 * Cost of an endpoint with requests in flight but no latency measured yet:
 * above any real cost, so unknown endpoints get one request at a time until
 * they answer (Finagle's penalty), while idle unknown ones cost 0 and are
 * tried first.
 */
const UNMEASURED_PENALTY = 1e9;

/**
 * Peak EWMA (Finagle, Linkerd): power of two choices on
 * cost = latency estimate × (requests in flight + 1). The estimate jumps up
 * on a slow response and decays down over time (feedback.ts), so traffic
 * leaves a slowing endpoint at once and returns gradually.
 */
export function createPeakEwma(endpoints: readonly EndpointState[], opts: BalancerOptions = {}): Balancer {
  const now = opts.now ?? (() => performance.now());
  const decayMs = opts.decayMs ?? DEFAULT_EWMA_DECAY_MS;
  const cost = (ep: EndpointState): number => {
    if (ep.ewmaMs === 0) return ep.active === 0 ? 0 : UNMEASURED_PENALTY + ep.active;
    return decayedEwma(ep, now(), decayMs) * (ep.active + 1);
  };
  return new PowerOfTwoChoices(endpoints, opts.random ?? Math.random, cost);
}
