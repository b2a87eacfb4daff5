/** Endpoint states for balancer tests. */
import { createEndpointState } from '../../src/cluster/endpoint-state.ts';
import type { EndpointState } from '../../src/cluster/types.ts';

/** `n` endpoints 10.0.0.1..n:8080 with the given weights (default 1). */
export function states(n: number, weights: number[] = []): EndpointState[] {
  return Array.from({ length: n }, (_, i) =>
    createEndpointState({ host: `10.0.0.${i + 1}`, port: 8080, labels: {}, weight: weights[i] ?? 1, zone: '', healthy: true, origin: 'static' }),
  );
}

/** How many of `n` picks went to each endpoint, in `eps` order. */
export function tally(pick: () => EndpointState | undefined, eps: EndpointState[], n: number): number[] {
  const out = new Array<number>(eps.length).fill(0);
  for (let i = 0; i < n; i++) out[eps.indexOf(pick()!)]++;
  return out;
}
