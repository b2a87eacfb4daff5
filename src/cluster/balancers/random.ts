import type { Balancer, EndpointState, PickContext } from '../types.ts';
import type { BalancerOptions } from './options.ts';
import { WeightedSampler } from './weighted-sampler.ts';

/** Weighted random: each eligible endpoint is picked with odds proportional to its weight. */
class RandomBalancer implements Balancer {
  readonly endpoints: readonly EndpointState[];
  readonly #sampler: WeightedSampler;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    this.endpoints = endpoints;
    this.#sampler = new WeightedSampler(endpoints, random);
  }

  pick(ctx: PickContext): EndpointState | undefined {
    return this.#sampler.draw(ctx.avoid, undefined);
  }
}

export function createRandom(endpoints: readonly EndpointState[], opts: BalancerOptions = {}): Balancer {
  return new RandomBalancer(endpoints, opts.random ?? Math.random);
}
