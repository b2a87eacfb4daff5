import { EnmeshError } from '../errors.ts';
import type { LoadBalancerKind } from '../model/types.ts';
import { createLeastRequest } from './balancers/least-request.ts';
import type { BalancerOptions } from './balancers/options.ts';
import { createPeakEwma } from './balancers/peak-ewma.ts';
import { createRandom } from './balancers/random.ts';
import { createRingHash } from './balancers/ring-hash.ts';
import { createRoundRobin } from './balancers/round-robin.ts';
import type { Balancer, EndpointState, PickContext } from './types.ts';

export type { BalancerOptions } from './balancers/options.ts';

export type BalancerFactory = (endpoints: readonly EndpointState[], opts?: BalancerOptions) => Balancer;

/** A pick with no hash key and nothing to avoid; shared so callers need not allocate one. */
export const EMPTY_PICK: PickContext = Object.freeze({});

const factories: Readonly<Record<LoadBalancerKind, BalancerFactory>> = Object.freeze({
  'round-robin': createRoundRobin,
  random: createRandom,
  'least-request': createLeastRequest,
  'ring-hash': createRingHash,
  'peak-ewma': createPeakEwma,
});

/** The balancer kinds this build knows. */
export const BALANCER_KINDS: readonly LoadBalancerKind[] = Object.freeze(Object.keys(factories) as LoadBalancerKind[]);

/**
 * Builds a balancer over a fixed endpoint set; build a new one when the set
 * changes (config update). Endpoint states are shared, so `active`, EWMA and
 * `available` carry over to the new balancer.
 *
 * Every balancer skips `available === false` endpoints unless none is
 * available (panic: pick among all), avoids `ctx.avoid` when another choice
 * exists, and returns undefined only for an empty set.
 */
export function createBalancer(kind: LoadBalancerKind, endpoints: readonly EndpointState[], opts?: BalancerOptions): Balancer {
  const factory = Object.hasOwn(factories, kind) ? factories[kind] : undefined;
  if (factory === undefined) {
    throw new EnmeshError(
      'ENMESH_ERR_CONFIG_INVALID',
      `unknown loadBalancer "${String(kind)}"; use one of: ${BALANCER_KINDS.join(', ')}`,
    );
  }
  return factory(Object.freeze(endpoints.slice()), opts);
}
