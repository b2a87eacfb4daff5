import type { EndpointState } from '../types.ts';

/**
 * Which endpoints a pick may choose from, in order of preference:
 *   1. available endpoints other than the one to avoid;
 *   2. available endpoints (only the one to avoid is left);
 *   3. panic, nothing is available: any endpoint other than the one to avoid;
 *   4. the one to avoid.
 * Availability outranks `avoid`: a retry goes back to a working endpoint
 * rather than to an ejected one. The mode is a pair of flags so that a pick
 * computes it with one scan and no allocation, and only when the fast path
 * (try case 1 directly) fails.
 */
export const ONLY_AVAILABLE = 1;
export const SKIP_AVOID = 2;

/** Case 1: eligible whatever the rest of the set looks like. */
export function preferred(ep: EndpointState, avoid: EndpointState | undefined): boolean {
  return ep.available && ep !== avoid;
}

export function poolMode(endpoints: readonly EndpointState[], avoid: EndpointState | undefined): number {
  let available = 0;
  let availableOther = 0;
  let other = 0;
  for (let i = 0; i < endpoints.length; i++) {
    const ep = endpoints[i];
    if (ep !== avoid) other++;
    if (ep.available) {
      available++;
      if (ep !== avoid) availableOther++;
    }
  }
  if (availableOther > 0) return ONLY_AVAILABLE | SKIP_AVOID;
  if (available > 0) return ONLY_AVAILABLE;
  return other > 0 ? SKIP_AVOID : 0;
}

export function inPool(ep: EndpointState, mode: number, avoid: EndpointState | undefined): boolean {
  return ((mode & ONLY_AVAILABLE) === 0 || ep.available) && ((mode & SKIP_AVOID) === 0 || ep !== avoid);
}

/** Balancing weight: the model guarantees >= 1; anything else counts as 1. */
export function weightOf(ep: EndpointState): number {
  const w = ep.endpoint.weight;
  return w > 0 ? w : 1;
}
