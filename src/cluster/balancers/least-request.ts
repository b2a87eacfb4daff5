import type { Balancer, EndpointState } from '../types.ts';
import type { BalancerOptions } from './options.ts';
import { PowerOfTwoChoices } from './p2c.ts';

const activeRequests = (ep: EndpointState): number => ep.active;

/** Least request: power of two choices on requests in flight per unit of weight. */
export function createLeastRequest(endpoints: readonly EndpointState[], opts: BalancerOptions = {}): Balancer {
  return new PowerOfTwoChoices(endpoints, opts.random ?? Math.random, activeRequests);
}
