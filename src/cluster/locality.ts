import type { LoadBalancerKind } from '../model/types.ts';
import { createBalancer } from './balancer.ts';
import type { BalancerOptions } from './balancers/options.ts';
import type { Balancer, EndpointState, PickContext } from './types.ts';

/**
 * Prefers the caller's own zone: picks among same-zone endpoints while one of
 * them is available (other than `ctx.avoid`), and fails over to every
 * available endpoint otherwise. Both inner balancers are built here, once per
 * config; a pick only scans the local group's flags.
 */
class LocalityBalancer implements Balancer {
  readonly endpoints: readonly EndpointState[];
  readonly #local: Balancer;
  readonly #all: Balancer;

  constructor(local: Balancer, all: Balancer) {
    this.endpoints = all.endpoints;
    this.#local = local;
    this.#all = all;
  }

  pick(ctx: PickContext): EndpointState | undefined {
    const local = this.#local.endpoints;
    const avoid = ctx.avoid;
    for (let i = 0; i < local.length; i++) {
      const ep = local[i];
      if (ep.available && ep !== avoid) return this.#local.pick(ctx);
    }
    return this.#all.pick(ctx);
  }
}

/**
 * A balancer of `kind` with local-zone preference. Without a local zone, or
 * with no endpoint in it, this is a plain balancer over all endpoints.
 */
export function createLocalityBalancer(
  kind: LoadBalancerKind,
  endpoints: readonly EndpointState[],
  localZone: string,
  opts?: BalancerOptions,
): Balancer {
  const all = createBalancer(kind, endpoints, opts);
  if (localZone === '') return all;
  const local = endpoints.filter((ep) => ep.endpoint.zone === localZone);
  if (local.length === 0 || local.length === endpoints.length) return all;
  return new LocalityBalancer(createBalancer(kind, local, opts), all);
}
